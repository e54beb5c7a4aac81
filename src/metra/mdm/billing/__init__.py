"""Billing determinants from served (validated / estimated) interval data (BAL-2).

Energy and maximum demand per tariff zone per day and month, tan(phi) compliance, the maximum
hourly volume in the system operator's peak hours per working day and its mean, and max / min
P, Q, S, computed with NumPy over whole month arrays and stored with the input versions used.
"""
