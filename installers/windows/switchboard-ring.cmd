@echo off
rem Softphones that run a program with the caller's number as its only argument (MicroSIP's
rem cmdIncomingCall) run this: it hands the ring to the desk already running (docs/softphones.md).
rem The number is quoted: a caller id is whatever the far end sends, and cmd.exe would run
rem "&calc" in an unquoted one.  The desk then checks it is a phone number, strictly.
"%~dp0Switchboard.exe" call incoming --from "%~1"
