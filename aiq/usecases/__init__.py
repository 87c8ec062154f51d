"""The use cases: one library function for each thing a person or the daemon does with aiq.

The CLI (``aiq/commands``), the daemon's worker and the demo call these and nothing below them
for a use case: each function does its own wiring (settings, credentials, clients), checks that
the caller may do it (``aiq.roles.require``) and writes its audit record. Callers parse input and
render results; a new caller (a web view, a script) gets the same checks by calling the same
function.

    sync        sync_org
    access      login, logout
    backups     backup, restore
    exports     export_org
    practices   delete_practice, reactivate_practice, purge_due, practice_status, add/remove
    keys        rotate_key
    members     list, add, change and remove members (Postgres)
    alerting    mute, unmute, send_test
    auditing    audit_entries, verify_audit
"""
