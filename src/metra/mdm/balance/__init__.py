"""Energy balances of network elements and the points that explain an imbalance (BAL-1).

`substation_balance` compares each substation's and feeder's balancing meter with the sum of its
customers per interval, checks the day against the profile's permissible imbalance and ranks the
customers whose pattern most likely explains it (theft, a stopped or bypassed meter, reverse
flow). `docs/mdm.md` explains the evidence and the score.
"""
