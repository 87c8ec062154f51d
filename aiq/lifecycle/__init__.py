"""The life of a practice's data: backups and restores, deletion, reactivation, purge, retention.

The privacy policy's promises about keeping and removing data: ``take_backup``, ``prune_backups``
and ``restore_backup`` (``backup``, with the portable ``dump`` format); ``delete_org``,
``reactivate_org``, ``purge_org`` and ``apply_retention`` (``retention``). Each operation records
itself in the audit log, in the same transaction. People and the daemon reach them through
``aiq.usecases``, which checks permissions first.
"""
