"""The ext_authz checks by the name a policy rule gives them: the one table policy.py dispatches on.

The names a rule may list are the config file's vocabulary (config/settings.py EXT_AUTHZ_CHECKS,
which config validation checks rules against); this table must have a check for each of them and no
other, or the import fails — so a check added here and not to the config (or the reverse) can't ship.
"""

from __future__ import annotations

from sidecar.config.settings import EXT_AUTHZ_CHECKS
from sidecar.core.ext_authz.checks.approval import check_approval
from sidecar.core.ext_authz.checks.base import Check
from sidecar.core.ext_authz.checks.challenge import check_challenge
from sidecar.core.ext_authz.checks.jwt import check_jwt
from sidecar.core.ext_authz.checks.peer import check_peer
from sidecar.core.ext_authz.checks.session import check_session

CHECKS: dict[str, Check] = {
    "jwt": check_jwt,
    "session": check_session,
    "approval": check_approval,
    "challenge": check_challenge,
    "peer": check_peer,
}

if set(CHECKS) != set(EXT_AUTHZ_CHECKS):
    raise ImportError(f"ext_authz checks {sorted(CHECKS)} differ from the config's {sorted(EXT_AUTHZ_CHECKS)}")
