// The receiver-side verifier printed on Permafrost's public API reference page
// (shared/reference/permafrost-api-reference.txt), kept here verbatim as test
// data so the suite can run it under Node.js on a machine without that file.
// t/test_webhooks.py checks that this copy still matches the page when the
// page is present.
import { createHmac, timingSafeEqual } from "node:crypto";
export function verifyPermafrostSignature(
rawBody: string,
signatureHeader: string | null,
secret: string,
): boolean {
if (!signatureHeader) return false;
const expected =
"sha256=" + createHmac("sha256", secret).update(rawBody).digest("hex");
const a = Buffer.from(signatureHeader);
const b = Buffer.from(expected);
if (a.length !== b.length) return false;
return timingSafeEqual(a, b);
}
