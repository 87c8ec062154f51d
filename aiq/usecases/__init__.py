"""The use cases: one library function for each thing a person or the daemon does with aiq.

The CLI (``aiq/commands``), the daemon's worker and the demo call these and nothing below them
for a use case: each function does its own wiring (settings, credentials, clients), checks that
the caller may do it (``aiq.roles.require``) and writes its audit record. Callers parse input and
render results; a new caller (a web view, a script) gets the same checks by calling the same
function.

    sync        sync_org (and ar_client, the one way an AR client is built from settings)
    access      login, logout
    backups     backup, restore
    exports     export_org, export_org_table
    practices   add_practice, remove_practice, delete_practice, purge_practice,
                reactivate_practice, retention_due, apply_retention, practice_states
    keys        rotate_key
    members     list_members, set_member, remove_member (a shared Postgres)
    alerting    mute, unmute, switch_email, send_test
    auditing    audit_entries, verify_audit
"""
