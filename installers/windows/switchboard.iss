; Inno Setup script for the workstation: `iscc installers\windows\switchboard.iss` on Windows,
; after `pyinstaller installers/switchboard.spec` has built dist\switchboard\.
; Installs per user (no administrator rights: agents' machines are often locked down) and
; registers the switchboard:// URL scheme, so a softphone or PBX client that "opens a URL" on
; a ring reaches the desk (docs/softphones.md).

#define AppName "Switchboard"
#define AppVersion "0.1.0"

[Setup]
AppId={{6A1C0E52-3B8D-4F0E-9C51-2F7D3A9E4B10}
AppName={#AppName}
AppVersion={#AppVersion}
AppPublisher=Switchboard
DefaultDirName={localappdata}\Programs\Switchboard
DefaultGroupName=Switchboard
PrivilegesRequired=lowest
OutputBaseFilename=Switchboard-{#AppVersion}-setup
Compression=lzma2
SolidCompression=yes
ArchitecturesInstallIn64BitMode=x64compatible
ChangesAssociations=yes

[Files]
Source: "..\..\dist\switchboard\*"; DestDir: "{app}"; Flags: recursesubdirs ignoreversion
Source: "switchboard-ring.cmd"; DestDir: "{app}"; Flags: ignoreversion

[Icons]
Name: "{group}\Switchboard"; Filename: "{app}\Switchboard.exe"
Name: "{userstartup}\Switchboard"; Filename: "{app}\Switchboard.exe"; Tasks: startup

[Tasks]
Name: "startup"; Description: "Start Switchboard when I sign in to Windows (incoming calls pop up only while it runs)"

[Registry]
; switchboard://call/incoming?from=... opens "Switchboard.exe <the URL>", which hands the ring
; to the desk already running (app/desk_link.py).
Root: HKCU; Subkey: "Software\Classes\switchboard"; ValueType: string; ValueName: ""; ValueData: "URL:Switchboard call"; Flags: uninsdeletekey
Root: HKCU; Subkey: "Software\Classes\switchboard"; ValueType: string; ValueName: "URL Protocol"; ValueData: ""
Root: HKCU; Subkey: "Software\Classes\switchboard\DefaultIcon"; ValueType: string; ValueName: ""; ValueData: """{app}\Switchboard.exe"",0"
Root: HKCU; Subkey: "Software\Classes\switchboard\shell\open\command"; ValueType: string; ValueName: ""; ValueData: """{app}\Switchboard.exe"" ""%1"""

[Run]
Filename: "{app}\Switchboard.exe"; Description: "Open Switchboard"; Flags: nowait postinstall skipifsilent
