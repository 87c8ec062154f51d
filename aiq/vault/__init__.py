"""The credential vault: the AR sign-in kept encrypted, and every secret kept out of sight.

    redact       a registry of every secret aiq has read or decrypted, and ``redact(text)``
    cipher       AES-256-GCM sealing with a random 96-bit nonce; the key id, the org and the field
                 are bound as associated data, so a ciphertext moved elsewhere fails to open
    keys         where the master key lives (key file, systemd credential, OS keyring, data-dir
                 file, environment), found in that order and said once; never created silently
                 over existing data
    credentials  save, load and delete an org's AR sign-in (``load_credentials`` for sync)
    login        ``sign_in``: ask AR, then store the credentials only once AR accepted them
    rotation     ``rotate_master_key``: a new key, everything re-encrypted, the old key retired
    status       what ``aiq status`` and ``aiq keys status`` show

This package imports nothing heavy at module level; each module imports ``cryptography``,
``keyring`` and SQLAlchemy where it needs them.
"""
