"""A real SFTP server (asyncssh's) on loopback, serving a folder of exports: the csv connector's fake.

Not an imitation of a vendor API but the protocol itself, so tests exercise the login (key or password), the
host key check and the file transfer the connector performs against a production server. Shipped in the wheel,
like every fake, for tests, the demo and third-party authors.
"""

from enrolsync.connectors.csv.fake.server import SftpExportServer, SftpUser

__all__ = ["SftpExportServer", "SftpUser"]
