"""A Botyard webhook receiver in Python: verify the signature, then act on the event."""

import os
from http.server import BaseHTTPRequestHandler, HTTPServer

from botyard_sdk.webhooks import WebhookVerificationError, verify

SECRET = os.environ["BOTYARD_WEBHOOK_SECRET"]  # the whsec_… shown when the endpoint was added


class Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))  # the raw bytes, as sent
        try:
            event = verify(body, dict(self.headers), SECRET)  # signature and timestamp
        except WebhookVerificationError:
            self.send_response(400)
            self.end_headers()
            return
        # The same event may arrive twice (a retry): deduplicate on event["id"] (webhook-id).
        print(event["type"], event["data"]["id"], flush=True)
        self.send_response(204)
        self.end_headers()


HTTPServer(("127.0.0.1", int(os.environ.get("PORT", "4000"))), Handler).serve_forever()
