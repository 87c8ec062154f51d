"""audit rows: the database's time and a practice the writer administers; ar_login for ADMINs

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 09:00:00

Postgres only (SQLite has no roles; the revision is recorded all the same):

- The audit chain's BEFORE INSERT trigger (``aiq_audit_chain``) sets ``at`` to the database's
  clock (``clock_timestamp()``, naive UTC) before hashing the row, whatever the insert said: a
  writer cannot backdate or postdate an entry. A restore by the installer (rows that come with
  their hashes) keeps the times it brings, as before.
- An audit row is tied to a practice the writer administers: the insert policy no longer lets an
  ADMIN write a row with no practice (which no OWNER could see). Only the installer, OWNER of
  every practice, writes rows about the whole database (``org_id`` null).
- ``ar_login`` (the AR user id and role a practice is signed in as) is read by ADMINs and OWNERs
  only, like the credentials it goes with: its read policy and ``aiq_apply_grants`` change, and
  every member's grants are applied again.
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
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
"""As migration 0005 has them (copied: a migration is frozen history)."""

MEMBER = "aiq_role_of(org_id, current_user) is not null"
ADMIN = "aiq_role_of(org_id, current_user) in ('ADMIN', 'OWNER')"


def _quote_list(names: tuple[str, ...]) -> str:
    return ", ".join(f'"{n}"' for n in names)


def _chain_function(path: str, *, database_time: bool) -> str:
    stamp = (
        """  -- The row's time is the database's, whatever the insert said.
  NEW.at := clock_timestamp() at time zone 'UTC';
"""
        if database_time
        else ""
    )
    return f"""
create or replace function aiq_audit_chain() returns trigger
language plpgsql security definer set search_path = {path} as $$
declare
  prev text;
begin
  -- A restore by the installer brings rows with their hashes: keep them as they were.
  if NEW.row_hash is not null and aiq_is_installer(session_user) then
    return NEW;
  end if;
{stamp}  -- One insert at a time, so the chain is a line; the id is taken under the lock, so the
  -- chain's order is the ids' order.
  perform pg_advisory_xact_lock(hashtext(TG_TABLE_SCHEMA || '.aiq_audit_chain'));
  NEW.id := nextval(pg_get_serial_sequence(format('%I.%I', TG_TABLE_SCHEMA, TG_TABLE_NAME), 'id'));
  select a.row_hash into prev from audit_log a order by a.id desc limit 1;
  NEW.prev_hash := coalesce(prev, '');
  NEW.row_hash := aiq_audit_hash(NEW.id, NEW.at, NEW.actor, NEW.org_id, NEW.action,
                                 NEW.target, NEW.details::text, NEW.prev_hash);
  return NEW;
end
$$"""


def _grants_function(path: str, schema: str, *, member_reads_login: bool) -> str:
    read: tuple[str, ...] = (
        *ORG_TABLES,
        "org",
        "org_member",
        "alert_mute",
        "alert_delivery",
        "alembic_version",
    )
    if not member_reads_login:
        read = tuple(t for t in read if t != "ar_login")
    write = (*ORG_TABLES, "credential", "alert_mute", "alert_delivery")
    admin_reads = (
        "credential, vault_key" if member_reads_login else "credential, vault_key, ar_login"
    )
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
    execute format('grant select on {admin_reads} to %I', p_role);
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
"""Every member's privileges made to match the (new) function again."""


def _apply(*, new: bool) -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    schema = bind.exec_driver_sql("select current_schema()").scalar_one()
    path = f'"{schema}", pg_temp'
    op.execute(_chain_function(path, database_time=new))
    op.execute("drop policy if exists aiq_insert on audit_log")
    if new:
        practice = f"case when org_id is null then aiq_is_installer(current_user) else {ADMIN} end"
    else:
        practice = f"(org_id is null or {ADMIN})"
    op.execute(
        "create policy aiq_insert on audit_log for insert "
        f"with check (actor = current_user and {practice})"
    )
    op.execute("drop policy if exists aiq_read on ar_login")
    op.execute(f"create policy aiq_read on ar_login for select using ({ADMIN if new else MEMBER})")
    op.execute(_grants_function(path, schema, member_reads_login=not new))
    op.execute(REAPPLY_GRANTS)


def upgrade() -> None:
    _apply(new=True)


def downgrade() -> None:
    _apply(new=False)
