@echo off
rem Softphones that run a program with the caller's number as its only argument (MicroSIP's
rem cmdIncomingCall) run this: it hands the ring to the desk already running (docs/softphones.md).
"%~dp0Switchboard.exe" call incoming --from %1
