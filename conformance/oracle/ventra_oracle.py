#!/usr/bin/python3
# Independent oracle for the end-to-end crypto vectors of Ventra v1, written
# from spec/crypto.md and the "Signed transcripts" of spec/auth.md alone.
# Usage: ventra_oracle.py generate OUTDIR | check DIR | regen-check DIR
# (format: conformance/vectors/crypto/FORMAT.md)
import copy
import hashlib
import hmac
import json
import os
import sys

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

GENERATOR_VERSION = "1"
HERE = os.path.dirname(os.path.abspath(__file__))
SCHEMA = os.path.join(HERE, "..", "schemas", "crypto_vectors.schema.json")

# Constants, spec/crypto.md section 10 and spec/auth.md.
PROTOCOL_VERSION = 1
KEY_LEN, SIGNATURE_LEN, AEAD_TAG_LEN, RATCHET_HEADER_LEN = 32, 64, 16, 41
MAX_SKIP, MAX_SKIPPED_KEYS, SKIPPED_KEY_TTL_S = 1000, 2000, 2592000
PADDING_BLOCK, FINGERPRINT_ITERATIONS, FINGERPRINT_LEN = 160, 5200, 32
LABELS = {
    "LABEL_X3DH": b"ventra.v1/x3dh", "LABEL_RATCHET_ROOT": b"ventra.v1/ratchet-root",
    "LABEL_MESSAGE_KEYS": b"ventra.v1/message-keys", "LABEL_PREKEY": b"ventra.v1/prekey",
    "LABEL_LAST_RESORT": b"ventra.v1/last-resort-prekey",
    "LABEL_REGISTER": b"ventra.v1/register", "LABEL_LOGIN": b"ventra.v1/login",
    "LABEL_LINK": b"ventra.v1/link", "LABEL_DELETE_ACCOUNT": b"ventra.v1/delete-account",
}
ZERO32, FF32 = bytes(32), b"\xff" * 32
U32_MAX = 0xffffffff


class VtError(Exception):
    """An operation failed with a spec error code (spec/crypto.md section 12)."""

    def __init__(self, code):
        super().__init__(code)
        self.code = code


def u16be(n):
    return n.to_bytes(2, "big")


def u32be(n):
    return n.to_bytes(4, "big")


def lp(x):
    return u16be(len(x)) + x


def sha512(x):
    return hashlib.sha512(x).digest()


# ---------------------------------------------------------------- edwards25519
# Our own arithmetic (RFC 8032 section 5.1), extended coordinates (X, Y, Z, T).
P = 2 ** 255 - 19
L = 2 ** 252 + 27742317777372353535851937790883648493
D = -121665 * pow(121666, P - 2, P) % P
SQRT_M1 = pow(2, (P - 1) // 4, P)
IDENT = (0, 1, 1, 0)


def inv(x):
    return pow(x, P - 2, P)


def padd(a, b):
    x1, y1, z1, t1 = a
    x2, y2, z2, t2 = b
    aa = (y1 - x1) * (y2 - x2) % P
    bb = (y1 + x1) * (y2 + x2) % P
    cc = 2 * t1 * t2 * D % P
    dd = 2 * z1 * z2 % P
    e, f, g, h = bb - aa, dd - cc, dd + cc, bb + aa
    return (e * f % P, g * h % P, f * g % P, e * h % P)


def pmul(s, pt):
    q = IDENT
    while s > 0:
        if s & 1:
            q = padd(q, pt)
        pt = padd(pt, pt)
        s >>= 1
    return q


def pneg(pt):
    x, y, z, t = pt
    return (-x % P, y, z, -t % P)


def is_ident(pt):
    return pt[0] % P == 0 and (pt[1] - pt[2]) % P == 0


def pencode(pt):
    zi = inv(pt[2])
    x, y = pt[0] * zi % P, pt[1] * zi % P
    return (y | ((x & 1) << 255)).to_bytes(32, "little")


def recover_x(y, sign):
    """x for y and the sign bit, or None (RFC 8032 5.1.3)."""
    x2 = (y * y - 1) * inv(D * y * y + 1) % P
    if x2 == 0:
        return None if sign else 0
    x = pow(x2, (P + 3) // 8, P)
    if (x * x - x2) % P != 0:
        x = x * SQRT_M1 % P
    if (x * x - x2) % P != 0:
        return None
    if (x & 1) != sign:
        x = P - x
    return x


def pdecode(s):
    """Decodes a canonical encoding (y < p) to a point, else None."""
    if len(s) != 32:
        return None
    y = int.from_bytes(s, "little")
    sign = y >> 255
    y &= (1 << 255) - 1
    if y >= P:
        return None
    x = recover_x(y, sign)
    if x is None:
        return None
    return (x, y, 1, x * y % P)


BASE = pdecode((4 * inv(5) % P).to_bytes(32, "little"))


def small_order(pt):
    return is_ident(pmul(8, pt))


def valid_identity_key(ik):
    """CRYPTO-13 / AUTH-7: canonical, on the curve, not small order, in the prime-order subgroup."""
    pt = pdecode(ik)
    return pt is not None and not small_order(pt) and is_ident(pmul(L, pt))


def clamp(a):
    a = bytearray(a)
    a[0] &= 0xf8
    a[31] &= 0x7f
    a[31] |= 0x40
    return bytes(a)


def ed_public(seed):
    """RFC 8032 key generation, cross-checked with python3-cryptography."""
    a = int.from_bytes(clamp(sha512(seed)[:32]), "little")
    pub = pencode(pmul(a, BASE))
    lib = Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    assert lib == pub, "Ed25519 key generation disagrees with python3-cryptography"
    return pub


def ed_sign(seed, msg):
    """RFC 8032 signing, cross-checked with python3-cryptography."""
    h = sha512(seed)
    a = int.from_bytes(clamp(h[:32]), "little")
    pub = pencode(pmul(a, BASE))
    r = int.from_bytes(sha512(h[32:] + msg), "little") % L
    rr = pencode(pmul(r, BASE))
    k = int.from_bytes(sha512(rr + pub + msg), "little") % L
    sig = rr + ((r + k * a) % L).to_bytes(32, "little")
    assert Ed25519PrivateKey.from_private_bytes(seed).sign(msg) == sig
    return sig


def ed_verify_strict(pub, msg, sig):
    """CRYPTO-5 / AUTH-14, criteria (a) to (f), in our own arithmetic."""
    if len(pub) != 32 or len(sig) != 64:
        return False
    s = int.from_bytes(sig[32:], "little")
    if s >= L:
        return False
    a = pdecode(pub)
    if a is None or small_order(a):
        return False
    y_r = int.from_bytes(sig[:32], "little") & ((1 << 255) - 1)
    if y_r < P:
        r = pdecode(sig[:32])
        if r is not None and small_order(r):
            return False
    k = int.from_bytes(sha512(sig[:32] + pub + msg), "little") % L
    ok = pencode(padd(pmul(s, BASE), pneg(pmul(k, a)))) == sig[:32]
    if ok:  # whatever we accept, the library's (less strict) verifier accepts too
        Ed25519PublicKey.from_public_bytes(pub).verify(sig, msg)
    return ok


def ed_to_x25519_public(ik):
    """CRYPTO-14: u = (1 + y) / (1 - y) mod p of a valid identity key."""
    if not valid_identity_key(ik):
        raise VtError("ERROR_CRYPTO")
    y = int.from_bytes(ik, "little") & ((1 << 255) - 1)
    return ((1 + y) * inv(1 - y) % P).to_bytes(32, "little")


def ed_to_x25519_private(seed):
    """CRYPTO-15."""
    return clamp(sha512(seed)[:32])


# ---------------------------------------------------------------- X25519
def x25519_raw(k, u):
    """RFC 7748 section 5, our own ladder."""
    k = int.from_bytes(clamp(k), "little")
    x1 = (int.from_bytes(u, "little") & ((1 << 255) - 1)) % P
    x2, z2, x3, z3, swap = 1, 0, x1, 1, 0
    for t in reversed(range(255)):
        kt = (k >> t) & 1
        swap ^= kt
        if swap:
            x2, x3, z2, z3 = x3, x2, z3, z2
        swap = kt
        a, b = x2 + z2, x2 - z2
        aa, bb = a * a % P, b * b % P
        e = aa - bb
        c, d = x3 + z3, x3 - z3
        da, cb = d * a % P, c * b % P
        x3 = (da + cb) ** 2 % P
        z3 = x1 * (da - cb) ** 2 % P
        x2 = aa * bb % P
        z2 = e * (aa + 121665 * e) % P
    if swap:
        x2, z2 = x3, z3
    return (x2 * pow(z2, P - 2, P) % P).to_bytes(32, "little")


def dh(priv, pub):
    """X25519 with the all-zero check of CRYPTO-2, cross-checked with python3-cryptography."""
    out = x25519_raw(priv, pub)
    if out == ZERO32:
        raise VtError("ERROR_CRYPTO")
    lib = X25519PrivateKey.from_private_bytes(priv).exchange(X25519PublicKey.from_public_bytes(pub))
    assert lib == out, "X25519 disagrees with python3-cryptography"
    return out


NINE = (9).to_bytes(32, "little")


def x_public(priv):
    return dh(priv, NINE)


# ---------------------------------------------------------------- KDFs, AEAD
def hkdf(salt, ikm, info, length):
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=salt, info=info).derive(ikm)


def hmac256(key, data):
    return hmac.new(key, data, hashlib.sha256).digest()


def x3dh_sk(dhs):
    return hkdf(ZERO32, FF32 + b"".join(dhs), LABELS["LABEL_X3DH"], 32)


def kdf_rk(rk, dh_out):
    okm = hkdf(rk, dh_out, LABELS["LABEL_RATCHET_ROOT"], 64)
    return okm[:32], okm[32:]


def kdf_ck(ck):
    """Returns (next chain key, message key), CRYPTO-81."""
    return hmac256(ck, b"\x02"), hmac256(ck, b"\x01")


def expand(mk):
    okm = hkdf(ZERO32, mk, LABELS["LABEL_MESSAGE_KEYS"], 44)
    return okm[:32], okm[32:]


def aead_enc(key, nonce, pt, aad):
    return AESGCM(key).encrypt(nonce, pt, aad)


def aead_dec(key, nonce, ct, aad):
    try:
        return AESGCM(key).decrypt(nonce, ct, aad)
    except InvalidTag:
        raise VtError("ERROR_DECRYPT") from None


# ---------------------------------------------------------------- random draws
class Draws:
    """The random values a vector supplies, taken in order (CRYPTO-10 replaced by the vector)."""

    def __init__(self, values):
        self.values = list(values)
        self.used = 0

    def take(self):
        if self.used >= len(self.values):
            raise AssertionError("vector supplies too few random values")
        self.used += 1
        return self.values[self.used - 1]


def generate_dh(rng):
    priv = rng.take()
    return (priv, x_public(priv))


class Seeds:
    """SHA-256(UTF-8(id) || u32be(k)), k = 0, 1, ... (FORMAT.md)."""

    def __init__(self, ident):
        self.ident, self.k = ident, 0

    def next(self):
        self.k += 1
        return hashlib.sha256(self.ident.encode() + u32be(self.k - 1)).digest()


# ---------------------------------------------------------------- protobuf (PrekeyMessage, Content)
def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7f
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def pb_fields(buf):
    """Parses a protobuf message into [(field, wiretype, value, raw)]; VtError on malformed input."""
    i, out = 0, []

    def rd_varint():
        nonlocal i
        n, shift = 0, 0
        while True:
            if i >= len(buf) or shift > 63:
                raise VtError("ERROR_INVALID_ARGUMENT")
            b = buf[i]
            i += 1
            n |= (b & 0x7f) << shift
            shift += 7
            if not b & 0x80:
                return n
    while i < len(buf):
        start = i
        tag = rd_varint()
        field, wt = tag >> 3, tag & 7
        if field == 0:
            raise VtError("ERROR_INVALID_ARGUMENT")
        if wt == 0:
            val = rd_varint()
        elif wt == 2:
            n = rd_varint()
            if i + n > len(buf):
                raise VtError("ERROR_INVALID_ARGUMENT")
            val = bytes(buf[i:i + n])
            i += n
        elif wt in (1, 5):
            n = 8 if wt == 1 else 4
            if i + n > len(buf):
                raise VtError("ERROR_INVALID_ARGUMENT")
            val = bytes(buf[i:i + n])
            i += n
        else:
            raise VtError("ERROR_INVALID_ARGUMENT")
        out.append((field, wt, val, bytes(buf[start:i])))
    return out


PM_FIELDS = {1: ("identity_key", 2), 2: ("base_key", 2), 3: ("signed_prekey_id", 0),
             4: ("one_time_prekey_id", 0), 5: ("last_resort_prekey_id", 0), 6: ("message", 2)}


def pm_encode(pm):
    out = b""
    for num, (name, wt) in sorted(PM_FIELDS.items()):
        v = pm[name]
        if wt == 0 and v:
            out += varint(num << 3) + varint(v)
        elif wt == 2 and v:
            out += varint(num << 3 | 2) + varint(len(v)) + v
    return out


def pm_decode(buf):
    pm = {"identity_key": b"", "base_key": b"", "signed_prekey_id": 0,
          "one_time_prekey_id": 0, "last_resort_prekey_id": 0, "message": b""}
    for field, wt, val, _ in pb_fields(buf):
        if field in PM_FIELDS:
            name, want = PM_FIELDS[field]
            if wt != want:
                raise VtError("ERROR_INVALID_ARGUMENT")
            pm[name] = val & U32_MAX if wt == 0 else val
    return pm


# ---------------------------------------------------------------- Double Ratchet (section 6)
def ratchet_init_alice(sk, spk_public, ad, rng):
    dhs = generate_dh(rng)
    rk, cks = kdf_rk(sk, dh(dhs[0], spk_public))
    return {"role": "initiator", "confirmed": False, "ad": ad, "dhs": dhs, "dhr": spk_public,
            "rk": rk, "cks": cks, "ckr": None, "ns": 0, "nr": 0, "pn": 0, "skipped": []}


def ratchet_init_bob(sk, spk_pair, ad):
    return {"role": "responder", "confirmed": True, "ad": ad, "dhs": spk_pair, "dhr": None,
            "rk": sk, "cks": None, "ckr": None, "ns": 0, "nr": 0, "pn": 0, "skipped": []}


def ratchet_encrypt(state, plaintext):
    """CRYPTO-89; returns (new state, message); the old state is never modified."""
    if state["cks"] is None:
        raise VtError("ERROR_STATE")
    if state["ns"] == U32_MAX:
        raise VtError("ERROR_LIMIT_EXCEEDED")
    s = copy.deepcopy(state)
    s["cks"], mk = kdf_ck(s["cks"])
    header = bytes([PROTOCOL_VERSION]) + s["dhs"][1] + u32be(s["pn"]) + u32be(s["ns"])
    key, nonce = expand(mk)
    out = header + aead_enc(key, nonce, plaintext, s["ad"] + header)
    s["ns"] += 1
    return s, out


def skip(s, until, now):
    while s["nr"] < until:
        s["ckr"], mk = kdf_ck(s["ckr"])
        s["skipped"].append([s["dhr"], s["nr"], mk, now])
        s["nr"] += 1


def dh_ratchet(s, dh_pub, rng):
    s["pn"], s["ns"], s["nr"] = s["ns"], 0, 0
    s["dhr"] = dh_pub
    s["rk"], s["ckr"] = kdf_rk(s["rk"], dh(s["dhs"][0], s["dhr"]))
    s["dhs"] = generate_dh(rng)
    s["rk"], s["cks"] = kdf_rk(s["rk"], dh(s["dhs"][0], s["dhr"]))


def commit(s, now):
    s["skipped"] = [e for e in s["skipped"] if now < e[3] + SKIPPED_KEY_TTL_S]
    while len(s["skipped"]) > MAX_SKIPPED_KEYS:
        s["skipped"].pop(0)


def ratchet_decrypt(state, message, now, rng):
    """CRYPTO-90; returns (new state, plaintext); the old state is never modified."""
    if len(message) < RATCHET_HEADER_LEN + AEAD_TAG_LEN:
        raise VtError("ERROR_INVALID_ARGUMENT")
    header, body = message[:41], message[41:]
    if header[0] != PROTOCOL_VERSION:
        raise VtError("ERROR_INVALID_ARGUMENT")
    dhp = header[1:33]
    pn = int.from_bytes(header[33:37], "big")
    n = int.from_bytes(header[37:41], "big")
    if n == U32_MAX:
        raise VtError("ERROR_INVALID_ARGUMENT")
    aad = state["ad"] + header
    s = copy.deepcopy(state)
    for idx, e in enumerate(s["skipped"]):
        if e[0] == dhp and e[1] == n:
            if now < e[3] + SKIPPED_KEY_TTL_S:
                key, nonce = expand(e[2])
                pt = aead_dec(key, nonce, body, aad)
                del s["skipped"][idx]
                s["confirmed"] = True
                commit(s, now)
                return s, pt
            break
    if s["dhr"] is not None and dhp == s["dhr"]:
        if n < s["nr"]:
            raise VtError("ERROR_DECRYPT")
        if s["ckr"] is None:
            raise VtError("ERROR_DECRYPT")
        if n - s["nr"] > MAX_SKIP:
            raise VtError("ERROR_LIMIT_EXCEEDED")
    else:
        if s["ckr"] is not None and pn > s["nr"] and pn - s["nr"] > MAX_SKIP:
            raise VtError("ERROR_LIMIT_EXCEEDED")
        if n > MAX_SKIP:
            raise VtError("ERROR_LIMIT_EXCEEDED")
    if s["dhr"] is None or dhp != s["dhr"]:
        if s["ckr"] is not None:
            skip(s, pn, now)
        dh_ratchet(s, dhp, rng)
    skip(s, n, now)
    s["ckr"], mk = kdf_ck(s["ckr"])
    s["nr"] += 1
    key, nonce = expand(mk)
    pt = aead_dec(key, nonce, body, aad)
    s["confirmed"] = True
    commit(s, now)
    return s, pt


def state_json(s):
    dig = hashlib.sha256()
    for dhp, n, mk, at in s["skipped"]:
        dig.update(dhp + u32be(n) + mk + at.to_bytes(8, "big"))
    hx = lambda v: None if v is None else v.hex()  # noqa: E731
    return {"role": s["role"], "confirmed": s["confirmed"], "ad": s["ad"].hex(),
            "dhsPublic": s["dhs"][1].hex(), "dhr": hx(s["dhr"]), "rk": s["rk"].hex(),
            "cks": hx(s["cks"]), "ckr": hx(s["ckr"]), "ns": s["ns"], "nr": s["nr"], "pn": s["pn"],
            "skippedCount": len(s["skipped"]), "skippedDigest": dig.hexdigest()}


# ---------------------------------------------------------------- X3DH (section 5)
def prekey_transcript(label, pid, pub):
    return LABELS[label] + b"\x00" + u32be(pid) + lp(pub)


def x3dh_initiator(t):
    """CRYPTO-45..57, 60: bundle -> outputs (hex dict), or VtError."""
    b = t["bundle"]
    hb = lambda k, d=b: bytes.fromhex(d[k])  # noqa: E731
    # CRYPTO-45: form.
    if b["deviceId"] not in t["requestedDeviceIds"] or len(hb("identityKey")) != KEY_LEN \
            or "signedPrekey" not in b:
        raise VtError("ERROR_INVALID_ARGUMENT")
    for name in ("signedPrekey", "oneTimePrekey", "lastResortPrekey"):
        if name in b:
            pk = b[name]
            if pk["id"] == 0 or len(hb("publicKey", pk)) != KEY_LEN:
                raise VtError("ERROR_INVALID_ARGUMENT")
            if name != "oneTimePrekey" and len(hb("signature", pk)) != SIGNATURE_LEN:
                raise VtError("ERROR_INVALID_ARGUMENT")
    if "oneTimePrekey" in b and "lastResortPrekey" in b:
        raise VtError("ERROR_INVALID_ARGUMENT")
    ik_b = hb("identityKey")
    if not valid_identity_key(ik_b):  # CRYPTO-46
        raise VtError("ERROR_CRYPTO")
    spk, lr, otk = b["signedPrekey"], b.get("lastResortPrekey"), b.get("oneTimePrekey")
    spk_pub = hb("publicKey", spk)
    if not ed_verify_strict(ik_b, prekey_transcript("LABEL_PREKEY", spk["id"], spk_pub),
                            hb("signature", spk)):  # CRYPTO-47
        raise VtError("ERROR_BAD_SIGNATURE")
    if lr is not None and not ed_verify_strict(
            ik_b, prekey_transcript("LABEL_LAST_RESORT", lr["id"], hb("publicKey", lr)),
            hb("signature", lr)):  # CRYPTO-48
        raise VtError("ERROR_BAD_SIGNATURE")
    if "recordedIdentityKey" in t and t["recordedIdentityKey"] != b["identityKey"]:  # CRYPTO-49
        raise VtError("ERROR_PERMISSION_DENIED")
    rng = Draws(bytes.fromhex(x) for x in t["draws"])
    seed = bytes.fromhex(t["aliceSeed"])
    ik_a = ed_public(seed)
    ek = generate_dh(rng)  # CRYPTO-51
    opk = otk or lr
    dhs = [dh(ed_to_x25519_private(seed), spk_pub), dh(ek[0], ed_to_x25519_public(ik_b)),
           dh(ek[0], spk_pub)]
    if opk is not None:
        dhs.append(dh(ek[0], hb("publicKey", opk)))
    sk = x3dh_sk(dhs)
    ad = bytes([PROTOCOL_VERSION]) + ik_a + ik_b
    st = ratchet_init_alice(sk, spk_pub, ad, rng)  # CRYPTO-56
    st, msg = ratchet_encrypt(st, bytes.fromhex(t["plaintext"]))
    pm = {"identity_key": ik_a, "base_key": ek[1], "signed_prekey_id": spk["id"],
          "one_time_prekey_id": otk["id"] if otk else 0,
          "last_resort_prekey_id": lr["id"] if lr else 0, "message": msg}
    return {"dh": [x.hex() for x in dhs], "sk": sk.hex(), "ad": ad.hex(), "baseKey": ek[1].hex(),
            "ratchetMessage": msg.hex(), "prekeyMessage": pm_encode(pm).hex(),
            "state": state_json(st)}


def x3dh_responder(t):
    """CRYPTO-65 steps 1-10 for a device with no session with the sender."""
    pm = pm_decode(bytes.fromhex(t["prekeyMessage"]))  # step 1
    if len(pm["identity_key"]) != KEY_LEN or len(pm["base_key"]) != KEY_LEN \
            or pm["signed_prekey_id"] == 0 \
            or (pm["one_time_prekey_id"] and pm["last_resort_prekey_id"]) \
            or len(pm["message"]) < RATCHET_HEADER_LEN + AEAD_TAG_LEN:  # step 2, CRYPTO-66
        raise VtError("ERROR_INVALID_ARGUMENT")
    if not valid_identity_key(pm["identity_key"]):  # step 3, CRYPTO-67
        raise VtError("ERROR_CRYPTO")
    if "recordedIdentityKey" in t and \
            bytes.fromhex(t["recordedIdentityKey"]) != pm["identity_key"]:  # step 4
        raise VtError("ERROR_PERMISSION_DENIED")
    if pm["base_key"].hex() in t["usedBaseKeys"]:  # step 6, CRYPTO-76
        raise VtError("ERROR_DECRYPT")

    def find(lst, pid):  # step 7, CRYPTO-70
        for k in t[lst]:
            if k["id"] == pid:
                priv = bytes.fromhex(k["private"])
                assert x_public(priv).hex() == k["public"]
                return priv, bytes.fromhex(k["public"])
        raise VtError("ERROR_NOT_FOUND")
    spk = find("signedPrekeys", pm["signed_prekey_id"])
    opk = None
    if pm["one_time_prekey_id"]:
        opk = find("oneTimePrekeys", pm["one_time_prekey_id"])
    elif pm["last_resort_prekey_id"]:
        opk = find("lastResortPrekeys", pm["last_resort_prekey_id"])
    seed = bytes.fromhex(t["bobSeed"])
    ik_b = ed_public(seed)
    ek = pm["base_key"]
    dhs = [dh(spk[0], ed_to_x25519_public(pm["identity_key"])),
           dh(ed_to_x25519_private(seed), ek), dh(spk[0], ek)]  # step 8
    if opk is not None:
        dhs.append(dh(opk[0], ek))
    sk = x3dh_sk(dhs)
    ad = bytes([PROTOCOL_VERSION]) + pm["identity_key"] + ik_b
    st = ratchet_init_bob(sk, spk, ad)  # step 9
    rng = Draws(bytes.fromhex(x) for x in t["draws"])
    st, pt = ratchet_decrypt(st, pm["message"], t["now"], rng)
    return {"dh": [x.hex() for x in dhs], "sk": sk.hex(), "ad": ad.hex(), "plaintext": pt.hex(),
            "consumedOneTimePrekeyId": pm["one_time_prekey_id"], "state": state_json(st)}


# ---------------------------------------------------------------- padding, safety numbers
def padding_len(b):
    """CRYPTO-130 read literally: the smallest p >= 1 that fills the block."""
    if b > 0 and b % PADDING_BLOCK == 0:
        return 0
    p = 1
    while (b + 1 + len(varint(p)) + p) % PADDING_BLOCK:
        p += 1
    # The spec's "Computing p" procedure must agree.
    t = -(-(b + 3) // PADDING_BLOCK) * PADDING_BLOCK
    while True:
        if 1 <= t - b - 2 <= 127:
            q = t - b - 2
            break
        if t - b - 3 >= 128:
            q = t - b - 3
            break
        t += PADDING_BLOCK
    assert q == p, ("padding procedures disagree", b, p, q)
    return p


def fingerprint(ik, username):
    h = u16be(0) + ik + username
    for _ in range(FINGERPRINT_ITERATIONS):
        h = sha512(h + ik)
    return h


def display(h):
    return "".join("%05d" % (int.from_bytes(h[5 * i:5 * i + 5], "big") % 100000) for i in range(6))


def safety(t):
    fl = fingerprint(bytes.fromhex(t["localIdentityKey"]), t["localUsername"].encode())
    fr = fingerprint(bytes.fromhex(t["remoteIdentityKey"]), t["remoteUsername"].encode())
    dl, dr = display(fl), display(fr)
    first, second = sorted([(dl, fl[:FINGERPRINT_LEN], fl), (dr, fr[:FINGERPRINT_LEN], fr)])[:2]
    return {"localFingerprint": fl.hex(), "remoteFingerprint": fr.hex(), "localDisplay": dl,
            "remoteDisplay": dr, "safetyNumber": first[0] + second[0],
            "qrPayload": (b"\x00" + first[1] + second[1]).hex()}


def content_body(buf):
    """The Content re-encoded without field 15 (CRYPTO-132: padding is ignored)."""
    return b"".join(raw for field, _, _, raw in pb_fields(buf) if field != 15)


def build_auth_transcript(t):
    """AUTH-12: label || 00 || lp(server_key) || fields."""
    user = t["username"].encode()
    h = lambda k: bytes.fromhex(t[k])  # noqa: E731
    purpose = t["purpose"]
    if purpose == "register":
        label, fields = "LABEL_REGISTER", lp(h("nonce")) + lp(user) + lp(h("identityKey"))
    elif purpose in ("login", "delete-account"):
        label = "LABEL_LOGIN" if purpose == "login" else "LABEL_DELETE_ACCOUNT"
        fields = lp(h("nonce")) + lp(user) + u32be(t["deviceId"])
    else:
        label = "LABEL_LINK"
        fields = lp(user) + u32be(t["approvingDeviceId"]) + lp(h("newIdentityKey"))
    return LABELS[label] + b"\x00" + lp(h("serverKey")) + fields


def auth_transcript(t):
    """AUTH-12 transcript; AUTH-14 verification of the signature."""
    h = lambda k: bytes.fromhex(t[k])  # noqa: E731
    tr = build_auth_transcript(t)
    if "signerSeed" in t:
        assert ed_public(h("signerSeed")).hex() == t["signerPublic"]
    if not ed_verify_strict(h("signerPublic"), tr, h("signature")):
        raise VtError("ERROR_BAD_SIGNATURE")
    out = {"transcript": tr.hex()}
    if "signerSeed" in t:
        out["signature"] = ed_sign(h("signerSeed"), tr).hex()
    return out


# ---------------------------------------------------------------- compute: inputs -> outputs
def c_hkdf(t):
    f, h = t["function"], (lambda k: bytes.fromhex(t[k]))
    if f == "KDF_CK":
        nck, mk = kdf_ck(h("ck"))
        return {"messageKey": mk.hex(), "nextChainKey": nck.hex()}
    if f == "X3DH_SK":
        dhs = [bytes.fromhex(x) for x in t["dh"]]
        assert len(dhs) in (3, 4)
        ikm, salt, info, n = FF32 + b"".join(dhs), ZERO32, LABELS["LABEL_X3DH"], 32
        extra = {"sk": x3dh_sk(dhs).hex()}
    elif f == "KDF_RK":
        ikm, salt, info, n = h("dhOut"), h("rk"), LABELS["LABEL_RATCHET_ROOT"], 64
        rk, ck = kdf_rk(h("rk"), h("dhOut"))
        extra = {"rootKey": rk.hex(), "chainKey": ck.hex()}
    else:
        ikm, salt, info, n = h("mk"), ZERO32, LABELS["LABEL_MESSAGE_KEYS"], 44
        key, nonce = expand(h("mk"))
        extra = {"aesKey": key.hex(), "nonce": nonce.hex()}
    out = {"salt": salt.hex(), "ikm": ikm.hex(), "info": info.hex(), "length": n,
           "okm": hkdf(salt, ikm, info, n).hex()}
    out.update(extra)
    return out


def c_aead(t):
    h = lambda k: bytes.fromhex(t[k])  # noqa: E731
    pt = aead_dec(h("key"), h("nonce"), h("ciphertext"), h("aad"))
    assert aead_enc(h("key"), h("nonce"), pt, h("aad")) == h("ciphertext")
    return {"plaintext": pt.hex()}


def c_identity(t):
    if "seed" not in t:
        ed_to_x25519_public(bytes.fromhex(t["ed25519Public"]))
        return {}
    seed = bytes.fromhex(t["seed"])
    pub = ed_public(seed)
    xpriv = ed_to_x25519_private(seed)
    xpub = ed_to_x25519_public(pub)
    assert x_public(xpriv) == xpub, "CRYPTO-14 and CRYPTO-15 disagree"
    return {"ed25519Public": pub.hex(), "x25519Private": xpriv.hex(), "x25519Public": xpub.hex()}


def c_x25519(t):
    return {"shared": dh(bytes.fromhex(t["private"]), bytes.fromhex(t["public"])).hex()}


def c_prekey_sig(t):
    tr = prekey_transcript(t["label"], t["prekeyId"], bytes.fromhex(t["prekeyPublic"]))
    out = {"transcript": tr.hex()}
    if not ed_verify_strict(bytes.fromhex(t["identityKey"]), tr, bytes.fromhex(t["signature"])):
        raise VtError("ERROR_BAD_SIGNATURE")
    if "seed" in t:
        assert ed_public(bytes.fromhex(t["seed"])).hex() == t["identityKey"]
        out["signature"] = ed_sign(bytes.fromhex(t["seed"]), tr).hex()
    return out


def c_padding(t):
    b = bytes.fromhex(t["unpadded"])
    p = padding_len(len(b))
    padded = b + (b"\x7a" + varint(p) + bytes(p) if p else b"")
    assert len(padded) % PADDING_BLOCK == 0 and content_body(padded) == b
    return {"paddingLen": p, "padded": padded.hex()}


def c_padding_receive(t):
    return {"body": content_body(bytes.fromhex(t["padded"])).hex()}


def c_scan(t):
    if t["scanned"] != safety(t)["qrPayload"]:
        raise VtError("NO_MATCH")
    return {}


STEP_INPUTS = ("party", "op", "repeat", "now", "draws", "comment")


def exec_step(states, st):
    """Runs one script step on states (alice/bob); returns the step as written in the vector."""
    o = {k: st[k] for k in STEP_INPUTS if k in st}
    s = states[st["party"]]
    try:
        if st["op"] == "encrypt":
            o["plaintext"] = st["plaintext"]
            for _ in range(st.get("repeat", 1)):
                s, msg = ratchet_encrypt(s, bytes.fromhex(st["plaintext"]))
            o["message"] = msg.hex()
        else:
            o["message"] = st["message"]
            s, pt = ratchet_decrypt(s, bytes.fromhex(st["message"]), st["now"],
                                    Draws(bytes.fromhex(x) for x in st["draws"]))
            o["plaintext"] = pt.hex()
        states[st["party"]] = s
    except VtError as e:
        o["error"] = e.code
    o["state"] = state_json(states[st["party"]])
    return o


def init_script(t):
    spk = (bytes.fromhex(t["bobSpkPrivate"]), bytes.fromhex(t["bobSpkPublic"]))
    assert x_public(spk[0]) == spk[1]
    sk, ad = bytes.fromhex(t["sk"]), bytes.fromhex(t["ad"])
    return {"alice": ratchet_init_alice(sk, spk[1], ad, Draws([bytes.fromhex(t["aliceInitDraw"])])),
            "bob": ratchet_init_bob(sk, spk, ad)}


def c_script(t):
    states = init_script(t)
    out = {"aliceState0": state_json(states["alice"]), "bobState0": state_json(states["bob"])}
    out["steps"] = [exec_step(states, st) for st in t["steps"]]
    errs = [s["error"] for s in out["steps"] if "error" in s]
    if errs:
        out["_error"] = errs[0]
    return out


def c_encrypt_from(t):
    """RatchetEncrypt from a given sending state (CRYPTO-89, CRYPTO-92)."""
    h = lambda k: bytes.fromhex(t[k])  # noqa: E731
    priv = h("dhsPrivate")
    assert x_public(priv) == h("dhsPublic")
    s = {"role": "initiator", "confirmed": True, "ad": h("ad"), "dhs": (priv, h("dhsPublic")), "dhr": h("dhr"),
         "rk": h("rk"), "cks": h("cks"), "ckr": None, "ns": t["ns"], "nr": 0, "pn": t["pn"], "skipped": []}
    s2, msg = ratchet_encrypt(s, h("plaintext"))
    return {"message": msg.hex(), "cksAfter": s2["cks"].hex(), "nsAfter": s2["ns"]}


COMPUTE = {
    "RatchetEncryptFrom": c_encrypt_from,
    "HkdfLabel": c_hkdf, "Aead": c_aead, "Identity": c_identity, "X25519": c_x25519,
    "PrekeySignature": c_prekey_sig, "AuthTranscript": auth_transcript,
    "X3dhInitiator": x3dh_initiator, "X3dhResponder": x3dh_responder,
    "RatchetScript": c_script, "Padding": c_padding, "PaddingReceive": c_padding_receive,
    "SafetyNumber": safety, "SafetyNumberScan": c_scan,
}


def run(gtype, t):
    """(outputs, error code or None)."""
    try:
        out = COMPUTE[gtype](t)
    except VtError as e:
        return {}, e.code
    return out, out.pop("_error", None)


# ---------------------------------------------------------------- generation
NOTES = {
    "Normal": ("BASIC", "An ordinary, well-formed case."),
    "WorkedExample": ("BASIC", "The worked example of spec/auth.md; the oracle checks it reproduces the spec's bytes."),
    "EdgeCase": ("EDGE_CASE", "A boundary value that implementations often get wrong."),
    "LowOrder": ("EDGE_CASE", "A public key of small order: DH output zero (CRYPTO-2) or an invalid identity key (CRYPTO-13)."),
    "MixedOrder": ("EDGE_CASE", "An Ed25519 point that is not of small order but lies outside the prime-order subgroup."),
    "NonCanonical": ("EDGE_CASE", "A non-canonical encoding (a value at or above p, or S at or above L)."),
    "LaxVerifierAccepts": ("CAN_OF_WORMS", "A non-strict Ed25519 verifier (no canonical or small-order checks) accepts this signature; CRYPTO-5 rejects it."),
    "BadSignature": ("MALFORMED_INPUT", "The signature does not verify over the transcript the verifier builds."),
    "WrongLabel": ("MALFORMED_INPUT", "The signature was made over a transcript with another label."),
    "Malformed": ("MALFORMED_INPUT", "An input of the wrong form or length."),
    "Tampered": ("MALFORMED_INPUT", "A byte of an authenticated input was changed."),
    "CheckOrder": ("EDGE_CASE", "Several checks fail; the first in the spec's fixed order decides the error."),
    "Replay": ("MALFORMED_INPUT", "A message or base key that was already used."),
    "Limit": ("EDGE_CASE", "MAX_SKIP, MAX_SKIPPED_KEYS, the skipped-key TTL or a u32 limit."),
    "UnknownKey": ("MALFORMED_INPUT", "Names a prekey the device holds no private key for."),
    "IdentityMismatch": ("MALFORMED_INPUT", "The identity key differs from the one recorded for the device."),
    "OutOfOrder": ("BASIC", "Messages decrypted in another order than sent (skipped message keys)."),
    "NoMatch": ("MALFORMED_INPUT", "A scanned QR payload that is not the device's own payload."),
}


class VecFile:
    def __init__(self, name, header):
        self.name, self.header, self.groups = name, header, {}

    def add(self, gtype, name, comment, flags, reqs, inputs, error=None):
        """Adds a test: runs the oracle on inputs, checks it fails with error (or succeeds)."""
        t = {"id": "crypto/%s/%s" % (self.name, name), "comment": comment, "flags": flags,
             "requirements": list(dict.fromkeys(reqs))}
        t.update(inputs)
        out, got = run(gtype, t)
        assert got == error, (t["id"], got, error)
        clash = [k for k in out if k in t and k != "steps" and t[k] != out[k]]
        assert not clash, (t["id"], "given inputs disagree with the oracle", clash)
        if error is None:
            t.update(out)
            t["result"] = "valid"
        else:
            if gtype == "RatchetScript":
                t.update(out)
            t["result"], t["error"] = "invalid", error
        self.groups.setdefault(gtype, []).append(t)
        return t

    def write(self, outdir):
        tc, groups, used = 0, [], set()
        for gtype, tests in self.groups.items():
            for t in tests:
                tc += 1
                t["tcId"] = tc
                used.update(t["flags"])
            groups.append({"type": gtype, "tests": tests})
        doc = {"algorithm": "ventra-crypto-v1", "schema": "crypto_vectors.schema.json",
               "generatorVersion": GENERATOR_VERSION, "numberOfTests": tc, "header": self.header,
               "notes": {f: {"bugType": NOTES[f][0], "description": NOTES[f][1]} for f in sorted(used)},
               "testGroups": groups}
        with open(os.path.join(outdir, self.name + ".json"), "w") as f:
            json.dump(doc, f, indent=2, sort_keys=True)
            f.write("\n")


LOW_ORDER_U = [bytes.fromhex(x) for x in (
    "0000000000000000000000000000000000000000000000000000000000000000",
    "0100000000000000000000000000000000000000000000000000000000000000",
    "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
    "5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f")]
ED_IDENTITY = (1).to_bytes(32, "little")


def torsion8():
    """A point of order 8: [L]Q for a point Q with a component of order 8."""
    y = 2
    while True:
        for sign in (0, 1):
            x = recover_x(y, sign)
            if x is not None:
                t = pmul(L, (x, y, 1, x * y % P))
                if not is_ident(pmul(4, t)):
                    return t
        y += 1


def seed_a(b):
    return bytes(range(b, b + 32))


def gen_hkdf():
    f = VecFile("hkdf_labels", ["Each KDF use of spec/crypto.md (CRYPTO-54, -80, -81, -82) and the AEAD (CRYPTO-8)."])
    s = Seeds("crypto/hkdf_labels")
    for n in (3, 4):
        f.add("HkdfLabel", "x3dh-sk/%d-dh" % n, "X3DH shared secret from %d DH values." % n, ["Normal"],
              ["CRYPTO-6", "CRYPTO-54"], {"function": "X3DH_SK", "dh": [s.next().hex() for _ in range(n)]})
    for i in range(2):
        f.add("HkdfLabel", "kdf-rk/%d" % i, "Root KDF.", ["Normal"], ["CRYPTO-6", "CRYPTO-80"],
              {"function": "KDF_RK", "rk": s.next().hex(), "dhOut": s.next().hex()})
        f.add("HkdfLabel", "kdf-ck/%d" % i, "Chain KDF (HMAC-SHA256 with 01 and 02).", ["Normal"],
              ["CRYPTO-7", "CRYPTO-81"], {"function": "KDF_CK", "ck": s.next().hex()})
        f.add("HkdfLabel", "expand/%d" % i, "Message key expansion into AES key and nonce.", ["Normal"],
              ["CRYPTO-6", "CRYPTO-82"], {"function": "EXPAND", "mk": s.next().hex()})
    for i, pt in enumerate([b"", b"hello, ventra"]):
        key, nonce, aad = s.next(), s.next()[:12], s.next() + s.next() + s.next() + s.next()[:10]
        ct = aead_enc(key, nonce, pt, aad)
        base = {"key": key.hex(), "nonce": nonce.hex(), "aad": aad.hex(), "plaintext": pt.hex()}
        f.add("Aead", "aes-gcm/%d" % i, "AES-256-GCM with a 106-byte AAD; tag appended.", ["Normal"],
              ["CRYPTO-8", "CRYPTO-88"], dict(base, ciphertext=ct.hex()))
        bad = bytearray(ct)
        bad[-1] ^= 1
        f.add("Aead", "aes-gcm/%d/bad-tag" % i, "The last tag byte flipped.", ["Tampered"], ["CRYPTO-8"],
              dict(base, ciphertext=bytes(bad).hex()), "ERROR_DECRYPT")
        f.add("Aead", "aes-gcm/%d/bad-aad" % i, "The AAD's last byte flipped.", ["Tampered"], ["CRYPTO-8", "CRYPTO-88"],
              dict(base, ciphertext=ct.hex(), aad=(aad[:-1] + bytes([aad[-1] ^ 1])).hex()), "ERROR_DECRYPT")
    return f


def gen_identity():
    f = VecFile("identity", ["Identity keys (CRYPTO-12..15) and X25519 (CRYPTO-1..3)."])
    s = Seeds("crypto/identity")
    seeds = [("auth-server", seed_a(0)), ("auth-device", seed_a(0x20)), ("auth-new-device", seed_a(0x60)),
             ("zero", ZERO32), ("ff", FF32), ("random-1", s.next()), ("random-2", s.next())]
    for name, sd in seeds:
        f.add("Identity", "seed/" + name, "Ed25519 key from a seed and its X25519 keys.",
              ["Normal"], ["CRYPTO-4", "CRYPTO-9", "CRYPTO-12", "CRYPTO-14", "CRYPTO-15"], {"seed": sd.hex()})
    t8 = torsion8()
    good = pmul(int.from_bytes(clamp(sha512(s.next())[:32]), "little"), BASE)
    bad_keys = [
        ("identity-point", ED_IDENTITY, ["LowOrder"], "The neutral element."),
        ("order-2", (P - 1).to_bytes(32, "little"), ["LowOrder"], "The point of order 2."),
        ("order-4", ZERO32, ["LowOrder"], "A point of order 4 (y = 0)."),
        ("order-8", pencode(t8), ["LowOrder"], "A point of order 8."),
        ("order-8-neg", pencode(pneg(t8)), ["LowOrder"], "Another point of order 8."),
        ("mixed-order", pencode(padd(good, t8)), ["MixedOrder"], "A valid key plus a point of order 8."),
        ("non-canonical-y", (P + 1).to_bytes(32, "little"), ["NonCanonical"], "y = p + 1."),
        ("non-canonical-y-sign", ((P + 1) | (1 << 255)).to_bytes(32, "little"), ["NonCanonical"],
         "y = p + 1 with the sign bit."),
    ]
    y = 2
    while recover_x(y, 0) is not None:
        y += 1
    bad_keys.append(("not-on-curve", y.to_bytes(32, "little"), ["Malformed"], "A y with no x on the curve."))
    bad_keys.append(("x-zero-sign-set", (1 | 1 << 255).to_bytes(32, "little"), ["LowOrder", "NonCanonical"],
                     "y = 1 with the sign bit set (x = 0)."))
    for name, k, flags, comment in bad_keys:
        f.add("Identity", "invalid/" + name, comment + " Not a valid identity key.", flags,
              ["CRYPTO-13", "CRYPTO-14"], {"ed25519Public": k.hex()}, "ERROR_CRYPTO")
    for i in range(3):
        f.add("X25519", "generate-dh/%d" % i, "GENERATE_DH: X25519(private, 9).", ["Normal"],
              ["CRYPTO-1", "CRYPTO-3"], {"private": s.next().hex(), "public": NINE.hex()})
    a, b = s.next(), s.next()
    pa, pb = x_public(a), x_public(b)
    f.add("X25519", "shared/ab", "DH(a, B).", ["Normal"], ["CRYPTO-1"], {"private": a.hex(), "public": pb.hex()})
    f.add("X25519", "shared/ba", "DH(b, A) equals DH(a, B).", ["Normal"], ["CRYPTO-1"],
          {"private": b.hex(), "public": pa.hex()})
    f.add("X25519", "shared/high-bit", "Bit 255 of the u-coordinate is ignored.", ["EdgeCase"], ["CRYPTO-1"],
          {"private": a.hex(), "public": (pb[:31] + bytes([pb[31] | 0x80])).hex()})
    f.add("X25519", "shared/non-canonical-u", "u = p + 9 is read as 9.", ["NonCanonical"], ["CRYPTO-1"],
          {"private": a.hex(), "public": (P + 9).to_bytes(32, "little").hex()})
    for i, u in enumerate(LOW_ORDER_U):
        f.add("X25519", "low-order/%d" % i, "A low-order u; the output is all zero.", ["LowOrder"],
              ["CRYPTO-1", "CRYPTO-2"], {"private": a.hex(), "public": u.hex()}, "ERROR_CRYPTO")
        if u[31] & 0x80 == 0 and i < 4:
            hu = u[:31] + bytes([u[31] | 0x80])
            f.add("X25519", "low-order/%d-high-bit" % i, "A low-order u with bit 255 set.", ["LowOrder"],
                  ["CRYPTO-1", "CRYPTO-2"], {"private": a.hex(), "public": hu.hex()}, "ERROR_CRYPTO")
    return f


def forge_lax(r):
    """R = [r]B, S = r: verifies under a cofactorless verifier when [k]A is neutral."""
    return pencode(pmul(r, BASE)) + r.to_bytes(32, "little")


def sign_small_r(seed, pub, msg):
    """R = neutral element, S = k*a: [S]B - [k]A = neutral, so a verifier without check (e) accepts."""
    a = int.from_bytes(clamp(sha512(seed)[:32]), "little")
    k = int.from_bytes(sha512(ED_IDENTITY + pub + msg), "little") % L
    return ED_IDENTITY + (k * a % L).to_bytes(32, "little")


def sign_mixed(seed, t8, msg, rnd):
    """A = [a]B + T8 with a signature valid under CRYPTO-5 (k = 0 mod 8)."""
    a = int.from_bytes(clamp(sha512(seed)[:32]), "little")
    pub = pencode(padd(pmul(a, BASE), t8))
    while True:
        r = int.from_bytes(rnd.next(), "little") % L
        rr = pencode(pmul(r, BASE))
        k = int.from_bytes(sha512(rr + pub + msg), "little") % L
        if k % 8 == 0:
            return pub, rr + ((r + k * a) % L).to_bytes(32, "little")


def gen_prekey_sigs():
    f = VecFile("prekey_signatures", ["Prekey transcripts and signatures (CRYPTO-21) under strict verification (CRYPTO-5)."])
    s = Seeds("crypto/prekey_signatures")
    seed = s.next()
    ik = ed_public(seed)
    reqs = ["CRYPTO-4", "CRYPTO-5", "CRYPTO-21"]

    def add(name, comment, flags, label, pid, pub, sig, error=None, key=ik, with_seed=True):
        inp = {"label": label, "prekeyId": pid, "prekeyPublic": pub.hex(), "identityKey": key.hex(),
               "signature": sig.hex()}
        if with_seed:
            inp["seed"] = seed.hex()
        f.add("PrekeySignature", name, comment, flags, reqs, inp, error)
    k7 = x_public(s.next())
    for label, pid, name in (("LABEL_PREKEY", 7, "signed/id-7"), ("LABEL_LAST_RESORT", 1, "last-resort/id-1"),
                             ("LABEL_PREKEY", U32_MAX, "signed/id-max")):
        add(name, "A %s signature." % label, ["Normal"], label, pid, k7,
            ed_sign(seed, prekey_transcript(label, pid, k7)))
    sig_lr = ed_sign(seed, prekey_transcript("LABEL_LAST_RESORT", 7, k7))
    add("invalid/last-resort-as-signed", "A last-resort signature checked as a signed prekey.", ["WrongLabel"],
        "LABEL_PREKEY", 7, k7, sig_lr, "ERROR_BAD_SIGNATURE", with_seed=False)
    sig_sp = ed_sign(seed, prekey_transcript("LABEL_PREKEY", 7, k7))
    add("invalid/signed-as-last-resort", "A signed-prekey signature checked as a last-resort prekey.", ["WrongLabel"],
        "LABEL_LAST_RESORT", 7, k7, sig_sp, "ERROR_BAD_SIGNATURE", with_seed=False)
    add("invalid/other-id", "The signature covers id 7; the prekey says id 8.", ["BadSignature"],
        "LABEL_PREKEY", 8, k7, sig_sp, "ERROR_BAD_SIGNATURE", with_seed=False)
    for pos, name in ((0, "r-bit"), (40, "s-bit")):
        bad = bytearray(sig_sp)
        bad[pos] ^= 1
        add("invalid/flipped-" + name, "One bit of the signature flipped.", ["BadSignature"],
            "LABEL_PREKEY", 7, k7, bytes(bad), "ERROR_BAD_SIGNATURE", with_seed=False)
    s_big = (int.from_bytes(sig_sp[32:], "little") + L).to_bytes(32, "little")
    add("invalid/s-plus-l", "S + L in place of S (non-canonical S).", ["NonCanonical", "LaxVerifierAccepts"],
        "LABEL_PREKEY", 7, k7, sig_sp[:32] + s_big, "ERROR_BAD_SIGNATURE", with_seed=False)
    tr = prekey_transcript("LABEL_PREKEY", 7, k7)
    r = int.from_bytes(s.next(), "little") % L
    add("invalid/small-order-key", "Identity key is the neutral element; R = [r]B, S = r.",
        ["LowOrder", "LaxVerifierAccepts"], "LABEL_PREKEY", 7, k7, forge_lax(r),
        "ERROR_BAD_SIGNATURE", key=ED_IDENTITY, with_seed=False)
    nc = (P + 1).to_bytes(32, "little")
    add("invalid/non-canonical-key", "Identity key y = p + 1 (the neutral element, non-canonical); R = [r]B, S = r.",
        ["NonCanonical", "LowOrder", "LaxVerifierAccepts"], "LABEL_PREKEY", 7, k7,
        forge_lax(r), "ERROR_BAD_SIGNATURE", key=nc, with_seed=False)
    add("invalid/small-order-r", "R is the neutral element and S = k*a, so the equation holds.",
        ["LowOrder", "LaxVerifierAccepts"], "LABEL_PREKEY", 7, k7, sign_small_r(seed, ik, tr),
        "ERROR_BAD_SIGNATURE", with_seed=False)
    mpub, msig = sign_mixed(seed, torsion8(), tr, s)
    f.add("PrekeySignature", "mixed-order-key-verifies",
          "A mixed-order key (not small order) with a signature whose k is 0 mod 8: CRYPTO-5 has no "
          "subgroup check, so it verifies (X3DH still refuses the key, CRYPTO-46).",
          ["MixedOrder", "EdgeCase"], reqs, {"label": "LABEL_PREKEY", "prekeyId": 7, "prekeyPublic": k7.hex(),
                                             "identityKey": mpub.hex(), "signature": msig.hex()})
    return f


AUTH_EXAMPLE = {
    "register": ("76656e7472612e76312f726567697374657200002003a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b80020404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f0005616c696365002029acbae141bccaf0b22e1a94d34d0bc7361e526d0bfe12c89794bc9322966dd7",
                 "cad10969ecdcc94a8dd1039ce06288766bea9485c92ecbc77bd48febabc611297ac728ad7af58f3b2d2b7ee773cd5752766a6cc4a317e5251c55537d92edda0b"),
    "login": ("76656e7472612e76312f6c6f67696e00002003a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b80020404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f0005616c69636500000001",
              "8ae45a31f8564544b22f9f033b75a986fb9576ef3c50a31d2b73d9d37989ec740e2e20d620e92e869db47a97f30e7a5e637c9101d55de45e373624ad39c80e09"),
    "link": ("76656e7472612e76312f6c696e6b00002003a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b80005616c6963650000000100201745" "53b456dddfc6908ecab1c101fe6ab21e2baa0617795b7d43a63482993fd5",
             "2fe421020600ad3f88acffc8bd570f6347b21fd14f316c124339d40e147a08f6159d00bf04779128847781777ff6b8c455f6b4633922282c15ee40b53483d601"),
    "delete-account": ("76656e7472612e76312f64656c6574652d6163636f756e7400002003a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b80020404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f0005616c69636500000001",
                       "e517f1d756960a23d04b73b7db53ea5adc7be461b72610e274c1f80242514b8e63d50ab3f69f3dd91ff568c54d24cff261c2c53a98af6379df399af407f8480d"),
}


def auth_fields(purpose, server_key, nonce, user, dev_seed, new_ik, device_id=1):
    t = {"purpose": purpose, "serverKey": server_key.hex(), "username": user,
         "signerSeed": dev_seed.hex(), "signerPublic": ed_public(dev_seed).hex()}
    if purpose != "link":
        t["nonce"] = nonce.hex()
    if purpose == "register":
        t["identityKey"] = ed_public(dev_seed).hex()
    elif purpose == "link":
        t["approvingDeviceId"], t["newIdentityKey"] = device_id, new_ik.hex()
    else:
        t["deviceId"] = device_id
    return t


def gen_transcripts():
    f = VecFile("transcripts", ["Signed transcripts of spec/auth.md (AUTH-10, AUTH-12, AUTH-14)."])
    s = Seeds("crypto/transcripts")
    reqs = ["AUTH-10", "AUTH-12", "AUTH-14", "CRYPTO-4"]
    server, dev, new_ik = ed_public(seed_a(0)), seed_a(0x20), ed_public(seed_a(0x60))
    nonce = bytes(range(0x40, 0x60))
    assert server.hex() == "03a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8"
    assert new_ik.hex() == "174553b456dddfc6908ecab1c101fe6ab21e2baa0617795b7d43a63482993fd5"
    for purpose, (tr, sig) in AUTH_EXAMPLE.items():
        t = auth_fields(purpose, server, nonce, "alice", dev, new_ik)
        t["signature"] = sig
        got = f.add("AuthTranscript", "auth-example/" + purpose, "spec/auth.md worked example: %s." % purpose,
                    ["WorkedExample"], reqs, t)
        assert got["transcript"] == tr, "auth.md worked example transcript differs: " + purpose
    server2, dev2, nik2, nonce2 = ed_public(s.next()), s.next(), ed_public(s.next()), s.next()
    for purpose in ("register", "login", "link", "delete-account"):
        t = auth_fields(purpose, server2, nonce2, "bob.smith_2-x", dev2, nik2, 4294967295)
        f.add("AuthTranscript", "random/" + purpose, "A %s transcript with a maximal device id." % purpose,
              ["Normal"], reqs, _signed(t))
    t = auth_fields("login", server, nonce, "alice", dev, new_ik)
    other = _signed(dict(t, serverKey=server2.hex()))["signature"]
    f.add("AuthTranscript", "invalid/other-server-key", "Signed for another server's key.", ["BadSignature"],
          ["AUTH-10", "AUTH-14", "AUTH-15"], _noseed(t, other), "ERROR_BAD_SIGNATURE")
    dsig = AUTH_EXAMPLE["delete-account"][1]
    f.add("AuthTranscript", "invalid/delete-signature-as-login",
          "The delete-account signature (same fields, other label) presented for login.", ["WrongLabel"],
          ["AUTH-12", "AUTH-13", "AUTH-15"], _noseed(t, dsig), "ERROR_BAD_SIGNATURE")
    f.add("AuthTranscript", "invalid/other-nonce", "Signed over another nonce.", ["BadSignature"],
          ["AUTH-12", "AUTH-15"], _noseed(t, _signed(dict(t, nonce=nonce2.hex()))["signature"]), "ERROR_BAD_SIGNATURE")
    lsig = AUTH_EXAMPLE["login"][1]
    sbig = (int.from_bytes(bytes.fromhex(lsig)[32:], "little") + L).to_bytes(32, "little")
    f.add("AuthTranscript", "invalid/s-plus-l", "The login example's signature with S + L.",
          ["NonCanonical", "LaxVerifierAccepts"], ["AUTH-14", "AUTH-15"],
          _noseed(t, lsig[:64] + sbig.hex()), "ERROR_BAD_SIGNATURE")
    tr = bytes.fromhex(AUTH_EXAMPLE["login"][0])
    r = int.from_bytes(s.next(), "little") % L
    tt = _noseed(t, forge_lax(r).hex())
    tt["signerPublic"] = ED_IDENTITY.hex()
    f.add("AuthTranscript", "invalid/small-order-signer", "Signer key is the neutral element; R = [r]B, S = r.",
          ["LowOrder", "LaxVerifierAccepts"], ["AUTH-14", "AUTH-15"], tt, "ERROR_BAD_SIGNATURE")
    return f


def _signed(t):
    t = dict(t)
    t["signature"] = ed_sign(bytes.fromhex(t["signerSeed"]), build_auth_transcript(t)).hex()
    return t


def _noseed(t, sig):
    t = dict(t)
    del t["signerSeed"]
    t["signature"] = sig
    return t


class Device:
    """A device with its identity and prekeys, for building X3DH vectors."""

    def __init__(self, s, spk_id=7, otk_id=42, lr_id=2):
        self.seed = s.next()
        self.ik = ed_public(self.seed)
        self.spk = (spk_id,) + generate_dh(Draws([s.next()]))
        self.otk = (otk_id,) + generate_dh(Draws([s.next()]))
        self.lr = (lr_id,) + generate_dh(Draws([s.next()]))

    def signed(self, label, key):
        return {"id": key[0], "publicKey": key[2].hex(),
                "signature": ed_sign(self.seed, prekey_transcript(label, key[0], key[2])).hex()}

    def bundle(self, extra):
        b = {"deviceId": 3, "identityKey": self.ik.hex(), "signedPrekey": self.signed("LABEL_PREKEY", self.spk)}
        if extra == "otk":
            b["oneTimePrekey"] = {"id": self.otk[0], "publicKey": self.otk[2].hex()}
        elif extra == "lr":
            b["lastResortPrekey"] = self.signed("LABEL_LAST_RESORT", self.lr)
        return b

    def holdings(self):
        k = lambda key: [{"id": key[0], "private": key[1].hex(), "public": key[2].hex()}]  # noqa: E731
        return {"bobSeed": self.seed.hex(), "signedPrekeys": k(self.spk), "oneTimePrekeys": k(self.otk),
                "lastResortPrekeys": k(self.lr)}


def gen_x3dh():
    f = VecFile("x3dh", ["X3DH (spec/crypto.md section 5): the initiator from a bundle, the responder from a PrekeyMessage."])
    s = Seeds("crypto/x3dh")
    alice_seed, bob = s.next(), Device(s)
    carol_seed = s.next()
    ireq = ["CRYPTO-45", "CRYPTO-46", "CRYPTO-47", "CRYPTO-50", "CRYPTO-51", "CRYPTO-52", "CRYPTO-53",
            "CRYPTO-54", "CRYPTO-55", "CRYPTO-56", "CRYPTO-60", "CRYPTO-84", "CRYPTO-86", "CRYPTO-87",
            "CRYPTO-88", "CRYPTO-89", "CRYPTO-13", "CRYPTO-14", "CRYPTO-15"]
    plain = b"first message".hex()

    def init_inputs(bundle, **kw):
        d = {"aliceSeed": alice_seed.hex(), "requestedDeviceIds": [1, 3], "bundle": bundle,
             "draws": [s.next().hex(), s.next().hex()], "plaintext": plain}
        d.update(kw)
        return d
    good = {}
    for extra, name, comment, more in (("otk", "one-time-prekey", "With a one-time prekey (4 DH).", []),
                                       ("lr", "last-resort", "With the last-resort prekey (4 DH).", ["CRYPTO-48"]),
                                       ("none", "no-prekey", "With neither (3 DH).", [])):
        good[extra] = f.add("X3dhInitiator", "initiator/" + name, comment, ["Normal"], ireq + more,
                            init_inputs(bob.bundle(extra)))
    f.add("X3dhInitiator", "initiator/recorded-key-matches", "The recorded identity key equals the bundle's.",
          ["Normal"], ireq + ["CRYPTO-49"], init_inputs(bob.bundle("otk"), recordedIdentityKey=bob.ik.hex()))

    def bad_init(name, comment, flags, reqs, bundle, error, **kw):
        f.add("X3dhInitiator", "initiator/invalid/" + name, comment, flags, reqs, init_inputs(bundle, **kw), error)

    def mod(extra, fn):
        b = copy.deepcopy(bob.bundle(extra))
        fn(b)
        return b
    IA = "ERROR_INVALID_ARGUMENT"
    bad_init("device-not-requested", "The bundle's device_id was not asked for.", ["Malformed"], ["CRYPTO-45"],
             mod("otk", lambda b: b.update(deviceId=2)), IA)
    bad_init("identity-key-31", "identity_key of 31 bytes.", ["Malformed"], ["CRYPTO-45"],
             mod("otk", lambda b: b.update(identityKey=b["identityKey"][:62])), IA)
    bad_init("no-signed-prekey", "signed_prekey absent.", ["Malformed"], ["CRYPTO-45"],
             mod("otk", lambda b: b.pop("signedPrekey")), IA)
    bad_init("signed-prekey-id-0", "Signed prekey id 0.", ["Malformed"], ["CRYPTO-45"],
             mod("otk", lambda b: b["signedPrekey"].update(id=0)), IA)
    bad_init("one-time-key-33", "One-time prekey public key of 33 bytes.", ["Malformed"], ["CRYPTO-45"],
             mod("otk", lambda b: b["oneTimePrekey"].update(publicKey=b["oneTimePrekey"]["publicKey"] + "00")), IA)
    bad_init("one-time-id-0", "One-time prekey id 0.", ["Malformed"], ["CRYPTO-45"],
             mod("otk", lambda b: b["oneTimePrekey"].update(id=0)), IA)
    bad_init("signature-63", "Signed prekey signature of 63 bytes.", ["Malformed"], ["CRYPTO-45"],
             mod("otk", lambda b: b["signedPrekey"].update(signature=b["signedPrekey"]["signature"][:126])), IA)
    both = mod("otk", lambda b: b.update(lastResortPrekey=bob.signed("LABEL_LAST_RESORT", bob.lr)))
    bad_init("both-one-time-and-last-resort", "Both a one-time and a last-resort prekey.", ["Malformed"],
             ["CRYPTO-45"], both, IA)
    bad_init("form-before-identity", "identity_key is the neutral element and the signature has 63 bytes: form first.",
             ["CheckOrder", "Malformed"], ["CRYPTO-45", "CRYPTO-50"],
             mod("otk", lambda b: b.update(identityKey=ED_IDENTITY.hex(), signedPrekey=dict(
                 b["signedPrekey"], signature=b["signedPrekey"]["signature"][:126]))), IA)
    t8 = torsion8()
    for name, key, flags in (("identity-small-order", ED_IDENTITY, ["LowOrder"]),
                             ("identity-order-8", pencode(t8), ["LowOrder"]),
                             ("identity-non-canonical", (P + 1).to_bytes(32, "little"), ["NonCanonical"])):
        bad_init(name, "The bundle's identity key is not valid (signature irrelevant).", flags,
                 ["CRYPTO-46", "CRYPTO-13", "CRYPTO-50"], mod("otk", lambda b: b.update(identityKey=key.hex())),
                 "ERROR_CRYPTO")
    # Mixed-order identity key with a signature that verifies under CRYPTO-5: CRYPTO-46 must still refuse it.
    mb = bob.bundle("otk")
    mpub, msig = sign_mixed(bob.seed, t8, prekey_transcript("LABEL_PREKEY", bob.spk[0], bob.spk[2]), s)
    mb["identityKey"], mb["signedPrekey"]["signature"] = mpub.hex(), msig.hex()
    bad_init("identity-mixed-order", "Mixed-order identity key whose prekey signature verifies under CRYPTO-5.",
             ["MixedOrder"], ["CRYPTO-46", "CRYPTO-13"], mb, "ERROR_CRYPTO")

    def flip_sig(b, name):
        sig = bytearray.fromhex(b[name]["signature"])
        sig[5] ^= 0x10
        b[name]["signature"] = sig.hex()
    bad_init("signed-prekey-bad-signature", "Signed prekey signature altered.", ["BadSignature"], ["CRYPTO-47"],
             mod("otk", lambda b: flip_sig(b, "signedPrekey")), "ERROR_BAD_SIGNATURE")
    bad_init("signed-prekey-last-resort-label", "Signed prekey signed with LABEL_LAST_RESORT.", ["WrongLabel"],
             ["CRYPTO-47", "CRYPTO-21"], mod("otk", lambda b: b.update(signedPrekey=bob.signed("LABEL_LAST_RESORT", bob.spk))),
             "ERROR_BAD_SIGNATURE")
    bad_init("last-resort-bad-signature", "Last-resort signature altered.", ["BadSignature"], ["CRYPTO-48"],
             mod("lr", lambda b: flip_sig(b, "lastResortPrekey")), "ERROR_BAD_SIGNATURE")
    bad_init("last-resort-prekey-label", "Last-resort prekey signed with LABEL_PREKEY.", ["WrongLabel"],
             ["CRYPTO-48", "CRYPTO-21"], mod("lr", lambda b: b.update(lastResortPrekey=bob.signed("LABEL_PREKEY", bob.lr))),
             "ERROR_BAD_SIGNATURE")
    carol_ik = ed_public(carol_seed)
    bad_init("identity-key-changed", "The bundle's identity key differs from the recorded one.", ["IdentityMismatch"],
             ["CRYPTO-49"], bob.bundle("otk"), "ERROR_PERMISSION_DENIED", recordedIdentityKey=carol_ik.hex())
    bad_init("signature-before-identity-record", "Bad signature and a changed identity key: the signature decides.",
             ["CheckOrder", "BadSignature"], ["CRYPTO-47", "CRYPTO-49", "CRYPTO-50"],
             mod("otk", lambda b: flip_sig(b, "signedPrekey")), "ERROR_BAD_SIGNATURE", recordedIdentityKey=carol_ik.hex())
    low_spk = (9, None, LOW_ORDER_U[1])
    bad_init("signed-prekey-low-order", "A correctly signed low-order signed prekey: DH1 is zero.", ["LowOrder"],
             ["CRYPTO-2", "CRYPTO-52"], mod("otk", lambda b: b.update(signedPrekey=bob.signed("LABEL_PREKEY", low_spk))),
             "ERROR_CRYPTO")
    bad_init("one-time-prekey-low-order", "A low-order one-time prekey: DH4 is zero.", ["LowOrder"],
             ["CRYPTO-2", "CRYPTO-52"], mod("otk", lambda b: b["oneTimePrekey"].update(publicKey=LOW_ORDER_U[0].hex())),
             "ERROR_CRYPTO")

    # ---- responder
    rreq = ["CRYPTO-65", "CRYPTO-52", "CRYPTO-53", "CRYPTO-54", "CRYPTO-55", "CRYPTO-71", "CRYPTO-73", "CRYPTO-85",
            "CRYPTO-90", "CRYPTO-104", "CRYPTO-13", "CRYPTO-14", "CRYPTO-15"]

    def resp_inputs(pm_hex, **kw):
        d = bob.holdings()
        d.update({"usedBaseKeys": [], "prekeyMessage": pm_hex, "now": 1700000000, "draws": [s.next().hex()]})
        d.update(kw)
        return d
    for extra, name, more in (("otk", "one-time-prekey", ["CRYPTO-73"]), ("lr", "last-resort", ["CRYPTO-75"]),
                              ("none", "no-prekey", [])):
        r = f.add("X3dhResponder", "responder/" + name, "Processes initiator/%s; same SK and AD." % name, ["Normal"],
                  rreq + more, resp_inputs(good[extra]["prekeyMessage"]))
        assert r["sk"] == good[extra]["sk"] and r["ad"] == good[extra]["ad"] and r["plaintext"] == plain
    pm_good = good["otk"]["prekeyMessage"]
    f.add("X3dhResponder", "responder/recorded-key-matches", "The sender's recorded identity key equals identity_key.",
          ["Normal"], rreq + ["CRYPTO-68"], resp_inputs(pm_good, recordedIdentityKey=ed_public(alice_seed).hex()))
    base = pm_decode(bytes.fromhex(pm_good))

    def pmx(**kw):
        d = dict(base)
        d.update(kw)
        return pm_encode(d).hex()

    def bad_resp(name, comment, flags, reqs, pm_hex, error, **kw):
        f.add("X3dhResponder", "responder/invalid/" + name, comment, flags, reqs + ["CRYPTO-72"],
              resp_inputs(pm_hex, **kw), error)
    bad_resp("truncated", "The PrekeyMessage's last field runs past the end.", ["Malformed"], ["CRYPTO-65", "CRYPTO-66"],
             pm_good[:-2], IA)
    bad_resp("field-zero", "A field with number 0 (not a protobuf encoding).", ["Malformed"], ["CRYPTO-66"],
             "0001" + pm_good, IA)
    bad_resp("identity-key-31", "identity_key of 31 bytes.", ["Malformed"], ["CRYPTO-66"],
             pmx(identity_key=base["identity_key"][:31]), IA)
    bad_resp("base-key-absent", "base_key absent.", ["Malformed"], ["CRYPTO-66"], pmx(base_key=b""), IA)
    bad_resp("signed-prekey-id-0", "signed_prekey_id 0.", ["Malformed"], ["CRYPTO-66"], pmx(signed_prekey_id=0), IA)
    bad_resp("both-ids", "Both one_time_prekey_id and last_resort_prekey_id non-zero.", ["Malformed"], ["CRYPTO-66"],
             pmx(last_resort_prekey_id=bob.lr[0]), IA)
    bad_resp("message-56", "message of 56 bytes.", ["Malformed", "EdgeCase"], ["CRYPTO-66"],
             pmx(message=base["message"][:56]), IA)
    bad_resp("identity-small-order", "identity_key is the neutral element.", ["LowOrder"], ["CRYPTO-67", "CRYPTO-13"],
             pmx(identity_key=ED_IDENTITY), "ERROR_CRYPTO")
    bad_resp("identity-mixed-order", "identity_key of mixed order.", ["MixedOrder"], ["CRYPTO-67", "CRYPTO-13"],
             pmx(identity_key=mpub), "ERROR_CRYPTO")
    bad_resp("identity-changed", "identity_key differs from the recorded key.", ["IdentityMismatch"], ["CRYPTO-68"],
             pm_good, "ERROR_PERMISSION_DENIED", recordedIdentityKey=carol_ik.hex())
    bad_resp("identity-before-record", "Invalid identity_key and a recorded key: CRYPTO-67 comes first.",
             ["CheckOrder", "LowOrder"], ["CRYPTO-65", "CRYPTO-67"], pmx(identity_key=ED_IDENTITY), "ERROR_CRYPTO",
             recordedIdentityKey=carol_ik.hex())
    bad_resp("base-key-replayed", "The base key was recorded by an earlier session (replayed initial message).",
             ["Replay"], ["CRYPTO-76"], pm_good, "ERROR_DECRYPT", usedBaseKeys=[base["base_key"].hex()])
    bad_resp("replay-before-lookup", "Replayed base key and the one-time prekey already deleted: replay decides.",
             ["Replay", "CheckOrder"], ["CRYPTO-65", "CRYPTO-76"], pm_good, "ERROR_DECRYPT",
             usedBaseKeys=[base["base_key"].hex()], oneTimePrekeys=[])
    bad_resp("unknown-signed-prekey", "signed_prekey_id names no held key.", ["UnknownKey"], ["CRYPTO-70"],
             pmx(signed_prekey_id=8), "ERROR_NOT_FOUND")
    bad_resp("one-time-prekey-used", "The one-time prekey was already used (deleted).", ["UnknownKey", "Replay"],
             ["CRYPTO-70", "CRYPTO-73"], pm_good, "ERROR_NOT_FOUND", oneTimePrekeys=[])
    bad_resp("unknown-last-resort", "last_resort_prekey_id names no held key.", ["UnknownKey"], ["CRYPTO-70"],
             good["lr"]["prekeyMessage"], "ERROR_NOT_FOUND", lastResortPrekeys=[])
    m = bytearray(base["message"])
    m[45] ^= 1
    bad_resp("ciphertext-tampered", "A ciphertext byte of the first ratchet message flipped.", ["Tampered"],
             ["CRYPTO-71", "CRYPTO-90"], pmx(message=bytes(m)), "ERROR_DECRYPT")
    bad_resp("other-identity-key", "identity_key replaced by another valid key: DH1 and AD differ.", ["Tampered"],
             ["CRYPTO-52", "CRYPTO-55", "CRYPTO-71"], pmx(identity_key=carol_ik), "ERROR_DECRYPT")
    bad_resp("dropped-one-time-id", "one_time_prekey_id set to 0: 3 DH instead of 4.", ["Tampered"],
             ["CRYPTO-53", "CRYPTO-71"], pmx(one_time_prekey_id=0), "ERROR_DECRYPT")
    bad_resp("base-key-low-order", "base_key of low order: DH2 is zero.", ["LowOrder"], ["CRYPTO-2", "CRYPTO-52"],
             pmx(base_key=LOW_ORDER_U[1]), "ERROR_CRYPTO")
    bad_resp("ratchet-key-low-order", "The first ratchet message carries a low-order ratchet key.", ["LowOrder"],
             ["CRYPTO-2", "CRYPTO-90", "CRYPTO-97"], pmx(message=base["message"][:1] + ZERO32 + base["message"][33:]),
             "ERROR_CRYPTO")
    bad_resp("ratchet-version-2", "The first ratchet message has version byte 02.", ["Malformed"], ["CRYPTO-95"],
             pmx(message=b"\x02" + base["message"][1:]), IA)
    return f


class Script:
    """Builds a RatchetScript test step by step with the same exec_step the checker uses."""

    def __init__(self, ident):
        self.s = Seeds(ident)
        spk_priv = self.s.next()
        self.t = {"sk": self.s.next().hex(), "ad": ("01" + self.s.next().hex() + self.s.next().hex()),
                  "bobSpkPrivate": spk_priv.hex(), "bobSpkPublic": x_public(spk_priv).hex(),
                  "aliceInitDraw": self.s.next().hex(), "steps": []}
        self.states = init_script(self.t)

    def enc(self, party, text, repeat=1, comment=None):
        st = {"party": party, "op": "encrypt", "plaintext": text.encode().hex()}
        if repeat != 1:
            st["repeat"] = repeat
        if comment:
            st["comment"] = comment
        o = exec_step(self.states, st)
        self.t["steps"].append(o)
        return bytes.fromhex(o["message"]) if "message" in o else None

    def dec(self, party, msg, now=1700000000, comment=None):
        dhr = self.states[party]["dhr"]
        draws = [self.s.next().hex()] if len(msg) >= 33 and msg[1:33] != dhr else []
        st = {"party": party, "op": "decrypt", "message": msg.hex(), "now": now, "draws": draws}
        if comment:
            st["comment"] = comment
        o = exec_step(self.states, st)
        self.t["steps"].append(o)
        return o

    def forged(self, party, text, **changes):
        """A message encrypted by a modified copy of party's state; the state itself is untouched."""
        s = copy.deepcopy(self.states[party])
        s.update(changes)
        return ratchet_encrypt(s, text.encode())[1]


def flip(msg, pos, bit=1):
    m = bytearray(msg)
    m[pos] ^= bit
    return bytes(m)


def gen_ratchet():
    f = VecFile("ratchet", ["Scripted Double Ratchet sessions (spec/crypto.md section 6).",
                            "Failing steps must leave the state exactly as it was (CRYPTO-97)."])
    T = 1700000000
    base_reqs = ["CRYPTO-80", "CRYPTO-81", "CRYPTO-82", "CRYPTO-84", "CRYPTO-85", "CRYPTO-86", "CRYPTO-87",
                 "CRYPTO-88", "CRYPTO-89", "CRYPTO-90", "CRYPTO-104"]

    def add(name, comment, flags, reqs, sc, error=None):
        inp = {k: sc.t[k] for k in ("sk", "ad", "bobSpkPrivate", "bobSpkPublic", "aliceInitDraw")}
        inp["steps"] = [{k: v for k, v in st.items() if k in STEP_INPUTS or k in ("plaintext", "message")
                         and (st["op"] == "encrypt") == (k == "plaintext")} for st in sc.t["steps"]]
        got = f.add("RatchetScript", name, comment, flags, base_reqs + reqs, inp, error)
        assert got["steps"] == sc.t["steps"]

    def new(name):
        return Script("crypto/ratchet/" + name)

    s = Seeds("crypto/ratchet/encrypt-from")
    base = {"ad": "01" + s.next().hex() + s.next().hex(), "dhr": x_public(s.next()).hex(), "rk": s.next().hex(),
            "cks": s.next().hex(), "pn": 3, "plaintext": b"late".hex()}
    priv = s.next()
    base.update(dhsPrivate=priv.hex(), dhsPublic=x_public(priv).hex())
    for name, ns, err, comment in (("ns-0", 0, None, "Ns = 0."),
                                   ("ns-max-minus-1", U32_MAX - 1, None, "Ns = 0xfffffffe: the last message of a chain."),
                                   ("ns-max", U32_MAX, "ERROR_LIMIT_EXCEEDED", "Ns = 0xffffffff: the chain is exhausted.")):
        f.add("RatchetEncryptFrom", "encrypt-from/" + name, comment, ["Limit"] if ns else ["Normal"],
              ["CRYPTO-89", "CRYPTO-92", "CRYPTO-86"], dict(base, ns=ns), err)

    sc = new("ping-pong")
    for i in range(2):
        sc.dec("bob", sc.enc("alice", "a%d" % i))
    for i in range(2):
        sc.dec("alice", sc.enc("bob", "b%d" % i))
    sc.dec("bob", sc.enc("alice", "a2"))
    sc.dec("alice", sc.enc("bob", "b2"))
    sc.dec("bob", sc.enc("alice", "a3"))
    add("ping-pong", "In-order messages with DH ratchet steps in both directions.", ["Normal"], [], sc)

    sc = new("out-of-order")
    m = [sc.enc("alice", "m%d" % i) for i in range(3)]
    for i in (2, 0, 1):
        sc.dec("bob", m[i])
    add("out-of-order", "Three messages received 2, 0, 1: skipped keys stored then used.", ["OutOfOrder"],
        ["CRYPTO-101", "CRYPTO-83"], sc)

    sc = new("out-of-order-across-ratchet")
    m0, m1 = sc.enc("alice", "m0"), sc.enc("alice", "m1")
    sc.dec("bob", m0)
    sc.dec("alice", sc.enc("bob", "r0"))
    m2 = sc.enc("alice", "m2")
    sc.dec("bob", m2, comment="PN = 2: m1 of the old chain is skipped before the DH ratchet step")
    sc.dec("bob", m1, comment="from MKSKIPPED")
    add("out-of-order-across-ratchet", "A message of the previous chain arrives after the next chain's first.",
        ["OutOfOrder"], ["CRYPTO-101"], sc)

    sc = new("responder-sends-first")
    sc.enc("bob", "too early")
    sc.dec("bob", sc.enc("alice", "hi"))
    sc.dec("alice", sc.enc("bob", "now ok"))
    add("responder-sends-first", "The responder cannot encrypt before its first decryption.", ["EdgeCase"],
        ["CRYPTO-85"], sc, "ERROR_STATE")

    sc = new("tampered-ciphertext")
    m0 = sc.enc("alice", "hello")
    sc.dec("bob", flip(m0, 42), comment="ciphertext byte flipped; the DH ratchet step is discarded")
    sc.dec("bob", flip(m0, len(m0) - 1), comment="tag byte flipped")
    sc.dec("bob", m0)
    m1 = sc.enc("alice", "again")
    sc.dec("bob", flip(m1, 41), comment="same chain")
    sc.dec("bob", m1)
    add("tampered-ciphertext", "Ciphertext or tag altered: ERROR_DECRYPT, state unchanged.", ["Tampered"],
        ["CRYPTO-97", "CRYPTO-98"], sc, "ERROR_DECRYPT")

    sc = new("tampered-header")
    m0 = sc.enc("alice", "hello")
    sc.dec("bob", flip(m0, 40), comment="N 0 -> 1: one key skipped, then the tag fails")
    sc.dec("bob", flip(m0, 36), comment="PN changed")
    other = x_public(sc.s.next())
    sc.dec("bob", m0[:1] + other + m0[33:], comment="another ratchet public key")
    sc.dec("bob", m0)
    sc.dec("alice", sc.enc("bob", "reply"))
    m1 = sc.enc("alice", "x")
    sc.dec("bob", flip(m1, 40, 2), comment="N 0 -> 2 in a new chain")
    sc.dec("bob", m1)
    add("tampered-header", "Header fields altered (they are in the AAD): ERROR_DECRYPT, state unchanged.",
        ["Tampered"], ["CRYPTO-88", "CRYPTO-97"], sc, "ERROR_DECRYPT")

    sc = new("wrong-ad")
    ad2 = bytes.fromhex(sc.t["ad"])
    ad2 = ad2[:1] + ad2[33:] + ad2[1:33]
    sc.dec("bob", sc.forged("alice", "swapped AD", ad=ad2), comment="encrypted with the two identity keys swapped in AD")
    sc.dec("bob", sc.enc("alice", "right AD"))
    add("wrong-ad", "A message made with another AD fails.", ["Tampered"], ["CRYPTO-55", "CRYPTO-88", "CRYPTO-97"],
        sc, "ERROR_DECRYPT")

    sc = new("replay")
    m0, m1, m2 = (sc.enc("alice", "m%d" % i) for i in range(3))
    sc.dec("bob", m0)
    sc.dec("bob", m0, comment="replay in the current chain: n < Nr, no skipped key")
    sc.dec("bob", m2)
    sc.dec("bob", m1, comment="from MKSKIPPED")
    sc.dec("bob", m1, comment="replay of a consumed skipped key")
    add("replay", "A consumed message never decrypts twice.", ["Replay"], ["CRYPTO-83", "CRYPTO-99"], sc,
        "ERROR_DECRYPT")

    sc = new("max-skip")
    sc.dec("bob", sc.enc("alice", "x", repeat=MAX_SKIP + 1, comment="N = 1000"),
           comment="skips exactly MAX_SKIP keys in the new chain")
    m = sc.enc("alice", "y", repeat=MAX_SKIP + 1, comment="N = 2001")
    sc.dec("bob", sc.enc("alice", "z", comment="N = 2002"), comment="N - Nr = 1001")
    sc.dec("bob", m, comment="N - Nr = 1000 (Nr = 1001)")
    add("max-skip", "Skipping exactly MAX_SKIP keys is allowed, MAX_SKIP + 1 in the current chain is not.",
        ["Limit"], ["CRYPTO-100", "CRYPTO-101"], sc, "ERROR_LIMIT_EXCEEDED")

    sc = new("max-skip-new-chain")
    sc.dec("bob", sc.enc("alice", "x", repeat=MAX_SKIP + 2), comment="N = 1001 in the chain a DH step opens")
    add("max-skip-new-chain", "N > MAX_SKIP in a new chain.", ["Limit"], ["CRYPTO-100", "CRYPTO-97"], sc,
        "ERROR_LIMIT_EXCEEDED")

    sc = new("max-skip-previous-chain")
    sc.dec("bob", sc.enc("alice", "m0"))
    sc.enc("alice", "lost", repeat=MAX_SKIP + 1, comment="Ns becomes 1002")
    sc.dec("alice", sc.enc("bob", "r0"))
    sc.dec("bob", sc.enc("alice", "n0"), comment="PN = 1002, Nr = 1: PN - Nr = 1001")
    add("max-skip-previous-chain", "PN - Nr > MAX_SKIP in the chain a DH step closes.", ["Limit"],
        ["CRYPTO-100", "CRYPTO-97"], sc, "ERROR_LIMIT_EXCEEDED")

    sc = new("two-max-skip")
    sc.dec("bob", sc.enc("alice", "m0"))
    sc.enc("alice", "lost", repeat=MAX_SKIP, comment="Ns becomes 1001")
    sc.dec("alice", sc.enc("bob", "r0"))
    sc.dec("bob", sc.enc("alice", "n", repeat=MAX_SKIP + 1, comment="PN = 1001, N = 1000"),
           comment="skips 1000 old and 1000 new keys: 2000 entries")
    add("two-max-skip", "One message adds 2 * MAX_SKIP = MAX_SKIPPED_KEYS skipped keys.", ["Limit"],
        ["CRYPTO-100", "CRYPTO-101", "CRYPTO-103"], sc)

    sc = new("eviction")
    sc.dec("bob", sc.enc("alice", "a", repeat=MAX_SKIP + 1), comment="1000 skipped")
    sc.dec("alice", sc.enc("bob", "r0"))
    sc.dec("bob", sc.enc("alice", "b", repeat=MAX_SKIP + 1), comment="2000 skipped")
    sc.dec("alice", sc.enc("bob", "r1"))
    sc.dec("bob", sc.enc("alice", "c", repeat=6), comment="2005: the 5 oldest are evicted")
    add("eviction", "COMMIT evicts the oldest skipped keys beyond MAX_SKIPPED_KEYS.", ["Limit"],
        ["CRYPTO-103", "CRYPTO-101"], sc)

    sc = new("skipped-ttl")
    m0, m1 = sc.enc("alice", "m0"), sc.enc("alice", "m1")
    sc.dec("bob", m1, now=T)
    sc.dec("bob", m0, now=T + SKIPPED_KEY_TTL_S - 1, comment="one second before expiry")
    add("skipped-ttl-last-second", "A skipped key is usable until stored_at + SKIPPED_KEY_TTL_S.", ["Limit"],
        ["CRYPTO-102"], sc)

    sc = new("skipped-expired")
    m0, m1, m2 = (sc.enc("alice", "m%d" % i) for i in range(3))
    sc.dec("bob", m1, now=T)
    sc.dec("bob", m0, now=T + SKIPPED_KEY_TTL_S, comment="expired: not used; n < Nr")
    sc.dec("bob", m2, now=T + SKIPPED_KEY_TTL_S, comment="COMMIT removes the expired entry")
    sc.dec("bob", m0, now=T + SKIPPED_KEY_TTL_S, comment="still fails")
    add("skipped-expired", "An expired skipped key is never used and COMMIT removes it.", ["Limit"],
        ["CRYPTO-99", "CRYPTO-102", "CRYPTO-97"], sc, "ERROR_DECRYPT")

    sc = new("truncated")
    m0 = sc.enc("alice", "hi")
    sc.dec("bob", m0[:-1], comment="tag cut by one byte")
    sc.dec("bob", m0[:56], comment="56 bytes")
    sc.dec("bob", b"", comment="empty")
    sc.dec("bob", m0)
    add("truncated", "Truncated messages: ERROR_INVALID_ARGUMENT under 57 bytes, else ERROR_DECRYPT.",
        ["Malformed"], ["CRYPTO-94", "CRYPTO-97"], sc, "ERROR_DECRYPT")

    sc = new("empty-plaintext")
    m0 = sc.enc("alice", "")
    sc.dec("bob", m0, comment="57 bytes, the shortest message")
    add("empty-plaintext", "A ratchet message with an empty plaintext is 57 bytes.", ["EdgeCase"], ["CRYPTO-94"], sc)

    sc = new("bad-version")
    m0 = sc.enc("alice", "v")
    sc.dec("bob", b"\x02" + m0[1:], comment="version 2")
    sc.dec("bob", b"\x00" + m0[1:], comment="version 0")
    sc.dec("bob", m0)
    add("bad-version", "A header whose version byte is not 01.", ["Malformed"], ["CRYPTO-95", "CRYPTO-97"], sc,
        "ERROR_INVALID_ARGUMENT")

    sc = new("n-max")
    m0 = sc.enc("alice", "n")
    sc.dec("bob", m0[:37] + b"\xff\xff\xff\xff" + m0[41:], comment="N = 0xffffffff")
    sc.dec("bob", m0)
    add("n-max", "A header with N = 0xffffffff.", ["Malformed", "Limit"], ["CRYPTO-96", "CRYPTO-97"], sc,
        "ERROR_INVALID_ARGUMENT")

    sc = new("low-order-ratchet-key")
    m0 = sc.enc("alice", "lo")
    sc.dec("bob", m0)
    for u in (LOW_ORDER_U[0], LOW_ORDER_U[2]):
        sc.dec("bob", m0[:1] + u + m0[33:], comment="low-order ratchet key")
    sc.dec("alice", sc.enc("bob", "r"))
    add("low-order-ratchet-key", "A header with a low-order ratchet key: the DH ratchet step fails.", ["LowOrder"],
        ["CRYPTO-2", "CRYPTO-97"], sc, "ERROR_CRYPTO")
    return f


def content_of_len(b):
    """A Content encoding (DataMessage with text and maybe sent_at_ms) of exactly b bytes, or None."""
    if b == 0:
        return b""
    for ts in (None, 1):
        for n in range(0, b):
            dm = b"\x0a" + varint(n) + b"x" * n if n else b""
            if ts is not None:
                dm += b"\x10\x01"
            enc = b"\x0a" + varint(len(dm)) + dm
            if len(enc) == b:
                return enc
    return None


def gen_padding():
    f = VecFile("padding", ["Content padding (CRYPTO-130..132)."])
    for b in (0, 2, 4, 29, 30, 31, 32, 100, 126, 127, 128, 129, 155, 156, 157, 158, 159, 160, 161, 190,
              287, 288, 300, 320, 350, 479, 480):
        enc = content_of_len(b)
        assert enc is not None, b
        flags = ["EdgeCase"] if b % 160 in (0, 30, 31, 157, 158, 159, 126, 127, 128, 129) or b == 0 else ["Normal"]
        f.add("Padding", "b-%d" % b, "An unpadded Content of %d bytes." % b, flags,
              ["CRYPTO-130", "CRYPTO-131"], {"unpadded": enc.hex()})
    body = content_of_len(20)
    for name, pad, comment in (("non-zero", b"\x7a\x03abc", "Padding of non-zero bytes."),
                               ("odd-length", b"\x7a\x01\x00", "Total length not a multiple of 160."),
                               ("none", b"", "No padding at all."),
                               ("twice", b"\x7a\x01\x00\x7a\x02\x00\x00", "Field 15 present twice.")):
        f.add("PaddingReceive", "receive/" + name, comment + " The receiver ignores it.", ["EdgeCase"],
              ["CRYPTO-132"], {"padded": (body + pad).hex()})
    f.add("PaddingReceive", "receive/padding-first", "Field 15 before the body.", ["EdgeCase"], ["CRYPTO-132"],
          {"padded": (b"\x7a\x02\x00\x00" + body).hex()})
    return f


def gen_safety():
    f = VecFile("safety_numbers", ["Safety numbers and QR payloads (CRYPTO-140..144)."])
    s = Seeds("crypto/safety_numbers")
    a, b = ed_public(seed_a(0x20)), ed_public(seed_a(0x60))
    c = ed_public(s.next())
    reqs = ["CRYPTO-9", "CRYPTO-140", "CRYPTO-141", "CRYPTO-142", "CRYPTO-143"]
    pairs = [("alice-bob", (a, "alice"), (b, "bob")), ("bob-alice", (b, "bob"), (a, "alice")),
             ("same-account", (a, "alice"), (b, "alice")), ("random", (c, "carol.x"), (a, "alice"))]
    for name, (lk, lu), (rk, ru) in pairs:
        f.add("SafetyNumber", name, "Safety number of two devices.", ["Normal"], reqs,
              {"localIdentityKey": lk.hex(), "localUsername": lu, "remoteIdentityKey": rk.hex(), "remoteUsername": ru})
    inp = {"localIdentityKey": a.hex(), "localUsername": "alice", "remoteIdentityKey": b.hex(), "remoteUsername": "bob"}
    qr = bytes.fromhex(safety(inp)["qrPayload"])
    f.add("SafetyNumberScan", "scan/match", "The scanned payload is the device's own.", ["Normal"],
          ["CRYPTO-143", "CRYPTO-144"], dict(inp, scanned=qr.hex()))
    for name, sc, comment in (("swapped", qr[:1] + qr[33:] + qr[1:33], "The two halves swapped."),
                              ("flipped", flip(qr, 64), "The last byte altered."),
                              ("version-1", b"\x01" + qr[1:], "Version byte 01."),
                              ("truncated", qr[:64], "64 bytes."),
                              ("other-key", bytes.fromhex(safety(dict(inp, remoteIdentityKey=c.hex()))["qrPayload"]),
                               "The payload for another identity key of the remote device.")):
        f.add("SafetyNumberScan", "scan/" + name, comment, ["NoMatch"], ["CRYPTO-144"], dict(inp, scanned=sc.hex()),
              "NO_MATCH")
    return f


EXPECTED_FILES = ["hkdf_labels.json", "identity.json", "prekey_signatures.json", "transcripts.json", "x3dh.json",
                  "ratchet.json", "padding.json", "safety_numbers.json"]
GENERATORS = [gen_hkdf, gen_identity, gen_prekey_sigs, gen_transcripts, gen_x3dh, gen_ratchet, gen_padding,
              gen_safety]


# ---------------------------------------------------------------- check
RESULT_KEYS = {"tcId", "id", "comment", "flags", "requirements", "result", "error"}


def check_file(path, validator):
    """Returns (passed, failed, messages)."""
    with open(path) as fh:
        doc = json.load(fh)
    msgs = [e.message for e in validator.iter_errors(doc)]
    passed = failed = 0
    if msgs:
        return 0, 1, ["schema: " + m for m in msgs[:5]]
    n = 0
    for g in doc["testGroups"]:
        for t in g["tests"]:
            n += 1
            inputs = {k: v for k, v in t.items() if k not in RESULT_KEYS}
            try:
                out, err = run(g["type"], inputs)
                ok = err == t.get("error") and (t["result"] == "valid") == (err is None)
                if ok and (err is None or g["type"] == "RatchetScript"):
                    ok = all(t.get(k) == v for k, v in out.items())
                    bad = [k for k, v in out.items() if t.get(k) != v]
                else:
                    bad = ["error: got %s, want %s" % (err, t.get("error"))]
            except (AssertionError, KeyError, ValueError, TypeError) as e:
                ok, bad = False, ["exception %r" % e]
            if ok:
                passed += 1
            else:
                failed += 1
                msgs.append("%s (tcId %d): mismatch %s" % (t["id"], t["tcId"], bad))
    flags = {fl for g in doc["testGroups"] for t in g["tests"] for fl in t["flags"]}
    if not flags <= set(doc["notes"]):
        failed += 1
        msgs.append("flags without a note: %s" % sorted(flags - set(doc["notes"])))
    ids = [t["tcId"] for g in doc["testGroups"] for t in g["tests"]]
    if ids != list(range(1, n + 1)):
        failed += 1
        msgs.append("tcId values are not 1..%d in order" % n)
    if n != doc["numberOfTests"]:
        failed += 1
        msgs.append("numberOfTests is %d, file has %d" % (doc["numberOfTests"], n))
    return passed, failed, msgs


def main(argv):
    if len(argv) != 3 or argv[1] not in ("generate", "check", "regen-check"):
        sys.stderr.write("usage: ventra_oracle.py generate OUTDIR | check DIR | regen-check DIR\n")
        return 2
    if argv[1] == "regen-check":
        # Regenerates in memory and compares with DIR byte for byte (CI: generated output must not drift).
        import tempfile
        with tempfile.TemporaryDirectory() as tmp:
            with open(os.devnull, "w") as null:
                old, sys.stdout = sys.stdout, null
                try:
                    main([argv[0], "generate", tmp])
                finally:
                    sys.stdout = old
            diff = [n for n in EXPECTED_FILES if not os.path.exists(os.path.join(argv[2], n)) or
                    open(os.path.join(tmp, n), "rb").read() != open(os.path.join(argv[2], n), "rb").read()]
        for n in diff:
            print("%s: differs from a fresh generation" % n)
        print("%d passed, %d failed" % (len(EXPECTED_FILES) - len(diff), len(diff)))
        return 1 if diff else 0
    if argv[1] == "generate":
        os.makedirs(argv[2], exist_ok=True)
        for gen in GENERATORS:
            vf = gen()
            vf.write(argv[2])
            print("wrote %s.json (%d tests)" % (vf.name, sum(len(v) for v in vf.groups.values())))
        return 0
    import jsonschema
    with open(SCHEMA) as fh:
        schema = json.load(fh)
    validator = jsonschema.Draft202012Validator(schema)
    total_p = total_f = 0
    files = sorted(x for x in os.listdir(argv[2]) if x.endswith(".json"))
    for name in sorted(set(EXPECTED_FILES) - set(files)):
        total_f += 1
        print("%s: missing" % name)
    for name in files:
        p, fl, msgs = check_file(os.path.join(argv[2], name), validator)
        total_p += p
        total_f += fl
        print("%s: %d passed, %d failed" % (name, p, fl))
        for m in msgs:
            print("  " + m)
    print("%d passed, %d failed" % (total_p, total_f))
    return 1 if total_f else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
