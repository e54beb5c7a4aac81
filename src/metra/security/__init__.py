"""The central system's access control and audit trail: users, roles, passwords, TOTP, sessions
and tokens, the hash-chained audit trail, security alerts, incidents and the compliance report.

It imports only the standard library, the store, the jurisdiction profiles, `argon2-cffi` and
`cryptography`; the faces (CLI, later the REST API and console) call it.
"""
