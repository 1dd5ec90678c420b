"""@mentions on the desk: the Mentions list with its unread count, the composer's completion
of ``@`` handles, and their highlight in the thread."""
