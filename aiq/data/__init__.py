"""Data rights and safety: backups and restores, deletion, reactivation, purge and retention.

Library functions the commands and the daemon call: ``take_backup``, ``prune_backups`` and
``restore_backup`` (``aiq.data.backup``); ``delete_org``, ``reactivate_org``, ``purge_org`` and
``purge_due`` (``aiq.data.lifecycle``). Each operation is recorded in the audit log.
"""
