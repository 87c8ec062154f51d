"""One AR account is one practice: signing it in under a second name is refused (exit 6)."""

from __future__ import annotations

from tests.test_auth_cli import CLI
from tests.test_auth_cli import cli as cli  # fixtures, used by name
from tests.vault.fixtures import OTHER_EMAIL, OTHER_PASSWORD
from tests.vault.fixtures import ar as ar
from tests.vault.fixtures import ar_server as ar_server
from tests.vault.fixtures import no_os_keyring as no_os_keyring
from tests.vault.fixtures import no_sentry as no_sentry


def test_the_same_ar_account_cannot_be_signed_in_as_a_second_practice(cli: CLI) -> None:
    assert cli.login().code == 0  # Glow Med Spa, AR account 4411
    before = cli.status()["orgs"]
    for name in ("Glow Again", "glow-2"):
        r = cli.login("--org", name)
        assert r.code == 6, r.err
        assert r.err.count("\n") == 1 and "Traceback" not in r.err
        assert "AR account 4411" in r.err and "'Glow Med Spa'" in r.err
        assert "aiq login --org 'Glow Med Spa'" in r.err
    # Nothing was stored: no second practice for the daemon to sync twice.
    assert cli.status()["orgs"] == before
    # An empty practice made beforehand (aiq orgs add) cannot take the account either.
    assert cli("orgs", "add", "Empty Spa").code == 0
    assert cli.login("--org", "Empty Spa").code == 6
    # Signing the same practice in again, by its name or by none, is fine; another account too.
    assert cli.login("--org", "Glow Med Spa").code == 0
    assert cli.login().code == 0
    assert cli.login("--org", "Empty Spa", email=OTHER_EMAIL, password=OTHER_PASSWORD).code == 0
    signed = [o["name"] for o in cli.status()["orgs"] if o["signed_in"]]
    assert signed == ["Empty Spa", "Glow Med Spa"]
