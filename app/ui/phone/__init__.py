"""The phone desk: the call log with its timer, the screen-pop, click-to-call, and the local
socket through which a softphone's ring reaches the desk (docs/softphones.md)."""
