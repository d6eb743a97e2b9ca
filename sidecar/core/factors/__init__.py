"""Second factors (Authy): TOTP and phone codes, push approvals, callback signatures."""
