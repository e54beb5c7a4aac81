"""Prepayment (PRE-1..PRE-5): accounts per delivery point in money or energy, tariffs, top-ups
with payment instruments and their blacklist, balances decremented from validated consumption
and reconciled with the meters' own balances, the market hub's connect / disconnect requests
executed through the command engine, and the customer's notices.

Layer: beside `mdm` and `security`, below the faces. It reads served VEE data
(`metra.mdm.versions`) and master data, writes its own tables (`metra.prepay.schema`), and
moves breakers only by submitting requests to the command engine
(`metra.security.command_requests`), whose safeguards, deadlines and windows then apply.
"""
