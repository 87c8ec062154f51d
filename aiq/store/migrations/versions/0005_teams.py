"""teams: org_member, the audit hash chain, and (Postgres) row-level security and grants

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27 18:00:00

On Postgres this migration also installs, in the aiq schema:

- ``aiq_is_installer(role)``: true for a superuser or a member of the role that owns the tables;
- ``aiq_role_of(org_id, role)``: the aiq role (``OWNER``/``ADMIN``/``MEMBER``) of a database role
  in an org, read from ``org_member``; SECURITY DEFINER with a pinned search_path, and it answers
  only about roles the session user can become, so nobody learns others' memberships through it;
- row-level security on every table that holds an org's rows, tied to ``current_user`` (never to
  a session setting a user could change);
- ``aiq_apply_grants(role)``: makes a role's table privileges match its memberships (run by
  ``aiq members``);
- the audit chain: a BEFORE INSERT trigger that serialises inserts with an advisory lock and
  stores ``prev_hash`` and ``row_hash`` (sha256 of the row's canonical text), a trigger that
  refuses UPDATE and DELETE, and ``aiq_audit_check()`` that recomputes every row's hash for
  ``aiq audit verify``.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
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
"""Tables keyed by ``org_id`` that every member reads and ADMINs write."""

SPECIAL_TABLES = ("org", "org_member", "credential", "alert_mute", "alert_delivery", "audit_log")
"""Tables with policies of their own."""

READ_TABLES = (*ORG_TABLES, "org", "org_member", "alert_mute", "alert_delivery", "alembic_version")
ADMIN_WRITE_TABLES = (*ORG_TABLES, "credential", "alert_mute", "alert_delivery")


def _quote_list(names: tuple[str, ...]) -> str:
    return ", ".join(f'"{n}"' for n in names)


def upgrade() -> None:
    op.create_table(
        "org_member",
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("db_role", sa.String(length=63), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("added_at", sa.DateTime(), nullable=False),
        sa.Column("added_by", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("org_id", "db_role"),
    )
    with op.batch_alter_table("audit_log") as batch:
        batch.add_column(sa.Column("prev_hash", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("row_hash", sa.String(length=64), nullable=True))
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        _postgres_security(bind)
    else:
        _sqlite_chain_existing(bind)


def _sqlite_chain_existing(bind: sa.Connection) -> None:
    """Chain the audit rows written before this migration.

    The chain as this migration defines it (the same text as ``aiq_audit_hash`` on Postgres:
    every field length-prefixed, the time as ``YYYY-MM-DDTHH:MM:SS.ffffff`` of the naive UTC
    value, the details as their stored JSON text). Copied here, not imported: a migration is
    frozen history, and the live code may change after it.
    """

    def field(value: object) -> str:
        return "~" if value is None else f"{len(str(value))}:{value}"

    prev = ""
    rows = bind.execute(
        sa.text(
            "select id, at, actor, org_id, action, target, cast(details as text) as details"
            " from audit_log order by id"
        )
    ).all()
    for r in rows:
        at = r.at if isinstance(r.at, datetime) else datetime.fromisoformat(str(r.at))
        when = at.strftime("%Y-%m-%dT%H:%M:%S.%f")
        parts = (int(r.id), when, r.actor, r.org_id, r.action, r.target, r.details, prev)
        digest = hashlib.sha256("|".join(field(p) for p in parts).encode("utf-8")).hexdigest()
        bind.execute(
            sa.text("update audit_log set prev_hash = :p, row_hash = :h where id = :i"),
            {"p": prev, "h": digest, "i": int(r.id)},
        )
        prev = digest


def _postgres_security(bind: sa.Connection) -> None:
    schema = bind.execute(sa.text("select current_schema()")).scalar_one()
    path = f'"{schema}", pg_temp'
    ex = op.execute
    ex(
        f"""
create function aiq_is_installer(p_user name) returns boolean
language sql stable security definer set search_path = {path} as $$
  select coalesce((select rolsuper from pg_catalog.pg_roles where rolname = p_user), false)
      or pg_catalog.pg_has_role(p_user,
           (select relowner from pg_catalog.pg_class where oid = 'org'::regclass), 'USAGE')
$$"""
    )
    ex(
        f"""
create function aiq_role_of(p_org integer, p_user name) returns text
language sql stable security definer set search_path = {path} as $$
  select case
    when p_user <> session_user
         and not pg_catalog.pg_has_role(session_user, p_user, 'MEMBER') then null
    else (select m.role from org_member m where m.org_id = p_org and m.db_role = p_user)
  end
$$"""
    )
    ex(
        """
create function aiq_audit_hash(p_id integer, p_at timestamp, p_actor text, p_org integer,
                               p_action text, p_target text, p_details text, p_prev text)
returns text language sql immutable set search_path = pg_catalog as $$
  select encode(sha256(convert_to(
    concat_ws('|',
      coalesce(length(p_id::text) || ':' || p_id::text, '~'),
      coalesce(length(to_char(p_at, 'YYYY-MM-DD"T"HH24:MI:SS.US')) || ':'
               || to_char(p_at, 'YYYY-MM-DD"T"HH24:MI:SS.US'), '~'),
      coalesce(length(p_actor) || ':' || p_actor, '~'),
      coalesce(length(p_org::text) || ':' || p_org::text, '~'),
      coalesce(length(p_action) || ':' || p_action, '~'),
      coalesce(length(p_target) || ':' || p_target, '~'),
      coalesce(length(p_details) || ':' || p_details, '~'),
      coalesce(length(p_prev) || ':' || p_prev, '~')),
    'UTF8')), 'hex')
$$"""
    )
    ex(
        f"""
create function aiq_audit_chain() returns trigger
language plpgsql security definer set search_path = {path} as $$
declare
  prev text;
begin
  -- A restore by the installer brings rows with their hashes: keep them as they were.
  if NEW.row_hash is not null and aiq_is_installer(session_user) then
    return NEW;
  end if;
  -- One insert at a time, so the chain is a line; the id is taken under the lock, so the
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
    )
    ex(
        "create trigger aiq_audit_chain before insert on audit_log "
        "for each row execute function aiq_audit_chain()"
    )
    ex(
        f"""
create function aiq_audit_frozen() returns trigger
language plpgsql set search_path = {path} as $$
begin
  raise exception 'the audit log is append-only: % is not allowed', TG_OP
    using errcode = 'insufficient_privilege';
end
$$"""
    )
    ex(
        "create trigger aiq_audit_frozen before update or delete on audit_log "
        "for each row execute function aiq_audit_frozen()"
    )
    ex(
        f"""
create function aiq_audit_check()
returns table(id integer, prev_hash text, row_hash text, computed text)
language plpgsql stable security definer set search_path = {path} as $$
begin
  if not (aiq_is_installer(session_user) or exists (
      select 1 from org_member m where m.db_role = session_user and m.role = 'OWNER')) then
    raise exception 'only an OWNER may verify the audit log'
      using errcode = 'insufficient_privilege';
  end if;
  return query
    select a.id, a.prev_hash::text, a.row_hash::text,
           aiq_audit_hash(a.id, a.at, a.actor, a.org_id, a.action, a.target,
                          a.details::text, a.prev_hash)
    from audit_log a order by a.id;
end
$$"""
    )
    # Chain the rows written before this migration (the append-only trigger is set aside for it).
    ex("alter table audit_log disable trigger aiq_audit_frozen")
    ex(
        f"""
do $$
declare r record; prev text := '';
begin
  for r in select * from "{schema}".audit_log order by id loop
    update "{schema}".audit_log set prev_hash = prev,
      row_hash = "{schema}".aiq_audit_hash(r.id, r.at, r.actor, r.org_id, r.action, r.target,
                                           r.details::text, prev)
      where id = r.id returning row_hash into prev;
  end loop;
end
$$"""
    )
    ex("alter table audit_log enable trigger aiq_audit_frozen")

    member = "aiq_role_of(org_id, current_user) is not null"
    admin = "aiq_role_of(org_id, current_user) in ('ADMIN', 'OWNER')"
    owner = "aiq_role_of(org_id, current_user) = 'OWNER'"
    for table in (*ORG_TABLES, *SPECIAL_TABLES):
        ex(f'alter table "{table}" enable row level security')
    for table in ORG_TABLES:
        ex(f'create policy aiq_read on "{table}" for select using ({member})')
        ex(f'create policy aiq_write on "{table}" for all using ({admin}) with check ({admin})')
    ex("create policy aiq_read on org for select using (aiq_role_of(id, current_user) is not null)")
    ex(
        "create policy aiq_write on org for update "
        "using (aiq_role_of(id, current_user) in ('ADMIN', 'OWNER')) "
        "with check (aiq_role_of(id, current_user) in ('ADMIN', 'OWNER'))"
    )
    ex(f"create policy aiq_read on org_member for select using (db_role = current_user or {owner})")
    ex(f"create policy aiq_write on org_member for all using ({owner}) with check ({owner})")
    ex(f"create policy aiq_read on credential for select using ({admin})")
    ex(f"create policy aiq_write on credential for all using ({admin}) with check ({admin})")
    ex(f"create policy aiq_read on alert_mute for select using (org_id = 0 or {member})")
    ex(f"create policy aiq_write on alert_mute for all using ({admin}) with check ({admin})")
    via_alert = "exists (select 1 from alert a where a.id = alert_id and {})"
    ex(
        "create policy aiq_read on alert_delivery for select using ("
        + via_alert.format("aiq_role_of(a.org_id, current_user) is not null")
        + ")"
    )
    adm = via_alert.format("aiq_role_of(a.org_id, current_user) in ('ADMIN', 'OWNER')")
    ex(f"create policy aiq_write on alert_delivery for all using ({adm}) with check ({adm})")
    ex(
        "create policy aiq_read on audit_log for select using (org_id is not null and "
        "aiq_role_of(org_id, current_user) = 'OWNER')"
    )
    ex(
        "create policy aiq_insert on audit_log for insert with check (actor = current_user and "
        "(org_id is null or aiq_role_of(org_id, current_user) in ('ADMIN', 'OWNER')))"
    )

    read_list = _quote_list(READ_TABLES)
    write_list = _quote_list(ADMIN_WRITE_TABLES)
    ex(
        f"""
create function aiq_apply_grants(p_role name) returns text
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
  execute format('grant select on {read_list} to %I', p_role);
  if top in ('ADMIN', 'OWNER') then
    execute format('grant select on credential, vault_key to %I', p_role);
    execute format('grant insert on vault_key to %I', p_role);
    execute format('grant insert, update, delete on {write_list} to %I', p_role);
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
    )


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        for table in (*ORG_TABLES, *SPECIAL_TABLES):
            if table == "org_member":
                continue
            for policy in ("aiq_read", "aiq_write", "aiq_insert"):
                op.execute(f'drop policy if exists {policy} on "{table}"')
            op.execute(f'alter table "{table}" disable row level security')
        op.execute("drop trigger if exists aiq_audit_chain on audit_log")
        op.execute("drop trigger if exists aiq_audit_frozen on audit_log")
        for fn in (
            "aiq_apply_grants(name)",
            "aiq_audit_check()",
            "aiq_audit_frozen()",
            "aiq_audit_chain()",
            "aiq_audit_hash(integer, timestamp, text, integer, text, text, text, text)",
        ):
            op.execute(f"drop function if exists {fn}")
    op.drop_table("org_member")
    if bind.dialect.name == "postgresql":
        op.execute("drop function if exists aiq_role_of(integer, name)")
        op.execute("drop function if exists aiq_is_installer(name)")
    with op.batch_alter_table("audit_log") as batch:
        batch.drop_column("row_hash")
        batch.drop_column("prev_hash")
