"""One router per resource; `openrft.server.app` includes them all under `/v1`."""
