"""Access: accounts, signed tokens and the one policy saying who may do what, where.

``policy`` holds the table (roles × permissions, scope by unit-code prefix), ``accounts`` the
users table's SQL and password hashing, ``tokens`` the signing key and bearer tokens.
"""
