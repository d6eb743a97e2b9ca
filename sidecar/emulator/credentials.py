"""The emulator's own credentials and issuers: what a sidecar must present to it.

The emulator is the other side of the wire and imports nothing from the sidecar; the sidecar's
embedded mode (`config.pointed_at_emulator`) reads these to point itself here.
"""

API_KEY = "emulator-api-key"  # RAuth
APP_ID = "emulator-app"  # RAuth
SECRET_KEY = "emulator-secret-key"  # Authsignal
AUTHY_API_KEY = "emulator-authy-api-key"  # Authy
ISSUERS = {"main": ["ES256"], "rsa": ["RS256"]}  # JWT issuers served under /issuers/{name}
INAI_PUBLISHABLE_KEY = "pk_test_emulator"  # InAI: X-Publishable-Key on every /api/v1 call
# Twilio Verify v2 (under /twilio-verify): HTTP Basic with the account SID + auth token, or the API key
# SID + secret; the one Verify service. Webhooks are signed with the auth token.
TWILIO_ACCOUNT_SID = "AC" + "e1" * 16
TWILIO_AUTH_TOKEN = "emulator-twilio-auth-token"
TWILIO_API_KEY_SID = "SK" + "e2" * 16
TWILIO_API_KEY_SECRET = "emulator-twilio-api-key-secret"
TWILIO_VERIFY_SERVICE_SID = "VA" + "e3" * 16
