// The integration tests use Linux facilities (mount, Unix file modes, python3's sqlite3 for a second process).
[assembly: System.Runtime.Versioning.SupportedOSPlatform("linux")]
