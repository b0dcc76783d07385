// A Botyard webhook receiver in Node (18+), standard library only: verify, then act.
import { createHmac, timingSafeEqual } from "node:crypto";
import { createServer } from "node:http";

const secret = process.env.BOTYARD_WEBHOOK_SECRET; // the whsec_… shown when the endpoint was added
const key = Buffer.from(secret.replace(/^whsec_/, ""), "base64");
const TOLERANCE_SECONDS = 300;

function verify(body, headers) {
  const id = headers["webhook-id"];
  const timestamp = headers["webhook-timestamp"];
  const signatures = headers["webhook-signature"];
  if (!id || !timestamp || !signatures) return false;
  if (Math.abs(Date.now() / 1000 - Number(timestamp)) > TOLERANCE_SECONDS) return false;
  const expected = createHmac("sha256", key).update(`${id}.${timestamp}.`).update(body).digest();
  return signatures.split(" ").some((entry) => {
    const [version, signature = ""] = entry.split(",");
    const candidate = Buffer.from(signature, "base64");
    return version === "v1" && candidate.length === expected.length
      && timingSafeEqual(candidate, expected);
  });
}

createServer((request, response) => {
  const chunks = [];
  request.on("data", (chunk) => chunks.push(chunk));
  request.on("end", () => {
    const body = Buffer.concat(chunks); // verify the raw bytes, never re-serialised JSON
    if (!verify(body, request.headers)) {
      response.writeHead(400).end();
      return;
    }
    const event = JSON.parse(body);
    // The same event may arrive twice (a retry): deduplicate on event.id (webhook-id).
    console.log(event.type, event.data.id);
    response.writeHead(204).end();
  });
}).listen(Number(process.env.PORT ?? 4000), "127.0.0.1");
