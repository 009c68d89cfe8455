// What a server with "weaveit_auth signature" checks, done again in Node
// with its own code (base58 with BigInt, node:crypto's ed25519), to judge
// the requests the demo page sends: the message is rebuilt from what went
// over the wire (method, path and query, body, headers), never from what
// the page says it signed.
'use strict';

const crypto = require('crypto');

const ALPHABET = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz';

function base58Decode(s) {
    let n = 0n;
    for (const c of s) {
        const d = ALPHABET.indexOf(c);
        if (d < 0) {
            throw new Error('not base58: ' + JSON.stringify(s));
        }
        n = n * 58n + BigInt(d);
    }
    const bytes = [];
    for (; n > 0n; n >>= 8n) {
        bytes.unshift(Number(n & 255n));
    }
    for (let i = 0; i < s.length && s[i] === '1'; i++) {
        bytes.unshift(0);
    }
    return Buffer.from(bytes);
}

function base58Encode(buf) {
    let n = 0n;
    for (const b of buf) {
        n = n * 256n + BigInt(b);
    }
    let out = '';
    for (; n > 0n; n /= 58n) {
        out = ALPHABET[Number(n % 58n)] + out;
    }
    for (let i = 0; i < buf.length && buf[i] === 0; i++) {
        out = '1' + out;
    }
    return out;
}

// The message of the spec (issue #11): lines joined by \n, none at the end.
function message({ method, target, wallet, timestamp, body }) {
    const digest = crypto.createHash('sha256').update(body || Buffer.alloc(0))
        .digest('hex');
    return ['WeaveIt request',
            `${method} ${target}`,
            `wallet: ${wallet}`,
            `timestamp: ${timestamp}`,
            `body-sha256: ${digest}`].join('\n');
}

function publicKey(wallet) {
    const raw = base58Decode(wallet);
    if (raw.length !== 32) {
        throw new Error(`wallet ${wallet} is ${raw.length} bytes, not 32`);
    }
    return crypto.createPublicKey({
        key: { kty: 'OKP', crv: 'Ed25519', x: raw.toString('base64url') },
        format: 'jwk',
    });
}

// The wallet a request is signed for: the JSON body's walletAddress for
// POST, the URI's otherwise.
function walletOf(method, pathname, body) {
    if (method === 'POST') {
        return JSON.parse(body.toString('utf8')).walletAddress;
    }
    const m = pathname.match(/^\/api\/(?:users\/([^/]+)\/points|wallet\/([^/]+)\/videos)$/);
    if (!m) {
        throw new Error('not a signed endpoint: ' + pathname);
    }
    return decodeURIComponent(m[1] || m[2]);
}

// Judges one request: {method, url, headers (lower-case names), body
// (Buffer or null)}.  Returns what was found; `verified` is true only if
// the signature is 64 bytes of ed25519 by the wallet's key over the
// rebuilt message; `tamperedRejected` that the same signature fails on a
// message one byte off (the check is not vacuous).
function check(req, now = Date.now() / 1000) {
    const out = { verified: false };
    try {
        const u = new URL(req.url);
        const target = u.pathname + u.search;
        const ts = req.headers['x-weaveit-timestamp'];
        const sig = req.headers['x-weaveit-signature'];
        out.target = target;
        out.wallet = walletOf(req.method, u.pathname, req.body);
        if (ts === undefined || sig === undefined) {
            out.why = 'unsigned';
            return out;
        }
        if (!/^[0-9]+$/.test(ts)) {
            out.why = 'timestamp not unix seconds: ' + ts;
            return out;
        }
        out.timestamp = Number(ts);
        out.skew = Math.round(out.timestamp - now);
        const signature = base58Decode(sig);
        out.signature = sig;
        if (signature.length !== 64) {
            out.why = `signature is ${signature.length} bytes`;
            return out;
        }
        const key = publicKey(out.wallet);
        const text = message({ method: req.method, target,
                               wallet: out.wallet, timestamp: ts,
                               body: req.body });
        out.verified = crypto.verify(null, Buffer.from(text, 'utf8'), key,
                                     signature);
        const bad = Buffer.from(text, 'utf8');
        bad[bad.length - 1] ^= 1;
        out.tamperedRejected = !crypto.verify(null, bad, key, signature);
        if (!out.verified) {
            out.why = 'the signature does not verify';
        }
    } catch (e) {
        out.why = String(e);
    }
    return out;
}

module.exports = { base58Decode, base58Encode, message, publicKey, check };
