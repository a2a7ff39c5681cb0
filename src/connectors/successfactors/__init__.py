"""SAP SuccessFactors (Employee Central) HR source connector."""

from enrolsync.connectors.successfactors.connector import SuccessFactorsSource

__all__ = ["SuccessFactorsSource"]
