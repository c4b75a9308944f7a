"""The private-messaging chat: Socket.IO relay, storage and pages on Flask."""
