#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0 OR MIT
"""Secrets for tests/nmm/agent_e2e.sh, computed the way the NMM and the kernel
do (Documentation/protocol.md), with libsodium through ctypes.

  agent_secrets.py cred BUNDLE CODE              -> hex of C
  agent_secrets.py derived CRED_HEX ASR EPOCH    -> hex of K_auth, K_wrap, K(prov)
  agent_secrets.py groupkeys CRED_HEX PCAP ASR IDS...
        -> hex of every group key K found wrapped for ASR (members IDS, any
           epoch up to 64) in a packet capture
  agent_secrets.py scan PID NAME=HEX...          -> the NAMEs found in PID's memory
"""
import ctypes
import hashlib
import hmac
import struct
import sys

so = ctypes.CDLL("libsodium.so.23")
assert so.sodium_init() >= 0
so.crypto_pwhash_opslimit_interactive.restype = ctypes.c_size_t
so.crypto_pwhash_memlimit_interactive.restype = ctypes.c_size_t
so.crypto_pwhash.argtypes = [ctypes.c_char_p, ctypes.c_ulonglong, ctypes.c_char_p,
                             ctypes.c_ulonglong, ctypes.c_char_p, ctypes.c_ulonglong,
                             ctypes.c_size_t, ctypes.c_int]
so.crypto_aead_xchacha20poly1305_ietf_decrypt.argtypes = [
    ctypes.c_char_p, ctypes.POINTER(ctypes.c_ulonglong), ctypes.c_void_p, ctypes.c_char_p,
    ctypes.c_ulonglong, ctypes.c_char_p, ctypes.c_ulonglong, ctypes.c_char_p, ctypes.c_char_p]


def xopen(key, nonce, box, ad):
    out = ctypes.create_string_buffer(len(box))
    n = ctypes.c_ulonglong()
    r = so.crypto_aead_xchacha20poly1305_ietf_decrypt(out, ctypes.byref(n), None, box,
                                                      len(box), ad, len(ad), nonce, key)
    return out.raw[:n.value] if r == 0 else None


def cred(bundle, code):
    b = open(bundle, "rb").read()
    key = ctypes.create_string_buffer(32)
    code = code.upper().replace("-", "").replace(" ", "").encode()
    r = so.crypto_pwhash(key, 32, code, len(code), b[44:60],
                         so.crypto_pwhash_opslimit_interactive(),
                         so.crypto_pwhash_memlimit_interactive(), 2)  # ARGON2ID13
    assert r == 0
    c = xopen(key.raw, b[60:84], b[84:132], b[:60])
    assert c, "bundle does not open"
    return c


def kdf(c, label, *ids):
    return hmac.new(c, label + b"".join(struct.pack("!I", i) for i in ids),
                    hashlib.sha256).digest()


def groupkeys(c, pcap, asr, ids):
    data = open(pcap, "rb").read()
    kwrap = kdf(c, b"AKM v1 wrap")
    ids = sorted(ids)
    found = set()
    pos = data.find(b"\x00\x10\x00\x48")  # WRAPPED TLV, 72 bytes
    while pos >= 0:
        w = data[pos + 4:pos + 76]
        for epoch in range(1, 65):
            for alg in (1, 2):
                ad = (b"AKM v1 wrap" + struct.pack("!IIBI", asr, epoch, alg, len(ids)) +
                      b"".join(struct.pack("!I", i) for i in ids))
                k = xopen(kwrap, w[:24], w[24:], ad)
                if k:
                    found.add(k.hex())
        pos = data.find(b"\x00\x10\x00\x48", pos + 1)
    return sorted(found)


def scan(pid, needles):
    found = set()
    with open(f"/proc/{pid}/maps") as maps, open(f"/proc/{pid}/mem", "rb", 0) as mem:
        for line in maps:
            f = line.split()
            if f[1][0] != "r" or line.rstrip().endswith(("[vvar]", "[vsyscall]")):
                continue
            start, end = (int(x, 16) for x in f[0].split("-"))
            try:
                mem.seek(start)
                chunk = mem.read(end - start)
            except (OSError, ValueError, OverflowError):
                continue
            for name, needle in needles.items():
                if needle in chunk:
                    found.add(name)
    return sorted(found)


def main(argv):
    if argv[1] == "cred":
        print(cred(argv[2], argv[3]).hex())
    elif argv[1] == "derived":
        c, asr, epoch = bytes.fromhex(argv[2]), int(argv[3]), int(argv[4])
        print(kdf(c, b"AKM v1 auth").hex(), kdf(c, b"AKM v1 wrap").hex(),
              kdf(c, b"AKM v1 prov", asr, epoch).hex())
    elif argv[1] == "groupkeys":
        print(" ".join(groupkeys(bytes.fromhex(argv[2]), argv[3], int(argv[4]),
                                 [int(x) for x in argv[5:]])))
    elif argv[1] == "scan":
        needles = {}
        for arg in argv[3:]:
            name, val = arg.split("=", 1)
            needles[name] = bytes.fromhex(val) if name.startswith("hex:") else val.encode()
        print(" ".join(scan(int(argv[2]), needles)))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
