"""metra: a smart electricity metering system (head-end, MDM, virtual meters) over DLMS/COSEM."""

__version__ = "0.1.0"
