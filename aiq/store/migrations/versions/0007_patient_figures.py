"""patient figures: patient_pass, patient_figure (counts and sums only, no patient id)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 12:00:00

Two practice tables, with the same row-level security as every other practice table on
Postgres: members read their practices' rows, ADMINs and OWNERs write them. ``aiq_apply_grants``
learns the two tables and every member's grants are applied again.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

ORG_TABLES = (
    "clinic",
    "staff",
    "category",
    "service",
    "product",
    "appointment",
    "appointment_service",
    "invoice",
    "invoice_item",
    "payment",
    "refund",
    "rollup_sales_daily",
    "rollup_appointments_daily",
    "sync_window",
    "sync_stream_state",
    "sync_run",
    "sync_run_stream",
    "ar_login",
    "alert",
)
"""As migration 0006 left them (copied: a migration is frozen history)."""

NEW_TABLES = ("patient_pass", "patient_figure")
MEMBER = "aiq_role_of(org_id, current_user) is not null"
ADMIN = "aiq_role_of(org_id, current_user) in ('ADMIN', 'OWNER')"


def _quote_list(names: tuple[str, ...]) -> str:
    return ", ".join(f'"{n}"' for n in names)


def _grants_function(path: str, schema: str, org_tables: tuple[str, ...]) -> str:
    # Migration 0006's function, with the practice tables given (ar_login is ADMIN-only).
    read = (
        *(t for t in org_tables if t != "ar_login"),
        "org",
        "org_member",
        "alert_mute",
        "alert_delivery",
        "alembic_version",
    )
    write = (*org_tables, "credential", "alert_mute", "alert_delivery")
    return f"""
create or replace function aiq_apply_grants(p_role name) returns text
language plpgsql security definer set search_path = {path} as $$
declare
  top text;
  sch text := '"{schema}"';
begin
  if aiq_is_installer(p_role) then
    return 'INSTALLER';
  end if;
  if not exists (select 1 from pg_catalog.pg_roles where rolname = p_role) then
    raise exception 'there is no database role %', p_role using errcode = 'undefined_object';
  end if;
  select case max(case m.role when 'OWNER' then 3 when 'ADMIN' then 2 else 1 end)
           when 3 then 'OWNER' when 2 then 'ADMIN' when 1 then 'MEMBER' end
    into top from org_member m where m.db_role = p_role;
  execute format('revoke all on all tables in schema %s from %I', sch, p_role);
  execute format('revoke all on all sequences in schema %s from %I', sch, p_role);
  if top is null then
    execute format('revoke usage on schema %s from %I', sch, p_role);
    return null;
  end if;
  execute format('grant usage on schema %s to %I', sch, p_role);
  execute format('grant select on {_quote_list(read)} to %I', p_role);
  if top in ('ADMIN', 'OWNER') then
    execute format('grant select on credential, vault_key, ar_login to %I', p_role);
    execute format('grant insert on vault_key to %I', p_role);
    execute format('grant insert, update, delete on {_quote_list(write)} to %I', p_role);
    execute format('grant update on org to %I', p_role);
    execute format('grant insert on audit_log to %I', p_role);
    execute format('grant usage on all sequences in schema %s to %I', sch, p_role);
  end if;
  if top = 'OWNER' then
    execute format('grant select on audit_log to %I', p_role);
    execute format('grant insert, update, delete on org_member to %I', p_role);
    execute format('grant update on vault_key to %I', p_role);
  end if;
  return top;
end
$$"""


REAPPLY_GRANTS = """
select aiq_apply_grants(m.db_role)
from (select distinct db_role from org_member) m
where exists (select 1 from pg_catalog.pg_roles r where r.rolname = m.db_role)
"""


def _postgres() -> tuple[str, str] | None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return None
    schema = bind.exec_driver_sql("select current_schema()").scalar_one()
    return schema, f'"{schema}", pg_temp'


def upgrade() -> None:
    op.create_table(
        "patient_pass",
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("computed_at", sa.DateTime(), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("history_from", sa.Date(), nullable=False),
        sa.Column("appointments_until", sa.Date(), nullable=False),
        sa.Column("appointments", sa.Integer(), nullable=False),
        sa.Column("invoices", sa.Integer(), nullable=False),
        sa.Column("min_cell", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("org_id"),
    )
    op.create_table(
        "patient_figure",
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("figure", sa.String(length=24), nullable=False),
        sa.Column("scope", sa.String(length=12), nullable=False),
        sa.Column("scope_id", sa.BigInteger(), nullable=False),
        sa.Column("months_after", sa.Integer(), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=True),
        sa.Column("base", sa.BigInteger(), nullable=True),
        sa.Column("patients", sa.Integer(), nullable=True),
        sa.Column("amount_cents", sa.BigInteger(), nullable=True),
        sa.Column("suppressed", sa.Boolean(), nullable=False),
        sa.Column("pending", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("org_id", "month", "figure", "scope", "scope_id", "months_after"),
    )
    pg = _postgres()
    if pg is None:
        return
    schema, path = pg
    for table in NEW_TABLES:
        op.execute(f'alter table "{table}" enable row level security')
        op.execute(f'create policy aiq_read on "{table}" for select using ({MEMBER})')
        op.execute(
            f'create policy aiq_write on "{table}" for all using ({ADMIN}) with check ({ADMIN})'
        )
    op.execute(_grants_function(path, schema, (*ORG_TABLES, *NEW_TABLES)))
    op.execute(REAPPLY_GRANTS)


def downgrade() -> None:
    pg = _postgres()
    if pg is not None:
        schema, path = pg
        op.execute(_grants_function(path, schema, ORG_TABLES))
    op.drop_table("patient_figure")
    op.drop_table("patient_pass")
    if pg is not None:
        op.execute(REAPPLY_GRANTS)
