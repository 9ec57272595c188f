// The organiser's private keys in this browser: imported from a key file (the rally CLI's
// `rally keys create --out FILE`, or one the console made) and kept in IndexedDB as
// non-extractable CryptoKeys, which this page can use to open envelopes but which no
// script can read back. Never uploaded, never in localStorage or sessionStorage.
import { X25519, ED25519, fromBase64, toBase64URL, fingerprint, importPrivateKey, bytesEqual } from "./envelope.js";

const DB = "rally-keys";
const STORE = "keys";

function db() {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open(DB, 1);
    req.onupgradeneeded = () => req.result.createObjectStore(STORE, { keyPath: "id" });
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

function run(mode, fn) {
  return db().then((d) => new Promise((resolve, reject) => {
    const tx = d.transaction(STORE, mode);
    const req = fn(tx.objectStore(STORE));
    tx.oncomplete = () => {
      d.close();
      resolve(req && req.result);
    };
    tx.onerror = tx.onabort = () => {
      d.close();
      reject(tx.error);
    };
  }));
}

// loadKeys returns the keys kept in this browser: [{id, name, algorithm, publicKey,
// fingerprint, privateKey}], with publicKey the raw bytes and privateKey a
// non-extractable CryptoKey. A browser without IndexedDB (a private window of some
// browsers) keeps none.
export async function loadKeys() {
  try {
    return (await run("readonly", (s) => s.getAll())) || [];
  } catch {
    return [];
  }
}

async function saveKeys(keys) {
  await run("readwrite", (s) => {
    for (const k of keys) s.put(k);
  });
}

// forgetKeys removes every key from this browser. The key file, wherever it is kept, is
// untouched.
export function forgetKeys() {
  return run("readwrite", (s) => s.clear());
}

// KeyFileError is a key file that cannot be used, said for the organiser.
export class KeyFileError extends Error {}

// importKeyFile reads a key file's text ({"keys": [{name, algorithm, publicKey,
// privateKey}]}) and keeps its X25519 keys in this browser. A key without a name (written
// with --no-register) is named after the registered key with the same public key among
// registered (the signed-in organiser's keys), if any. It returns the keys kept.
export async function importKeyFile(text, registered = []) {
  let file;
  try {
    file = JSON.parse(text);
  } catch {
    throw new KeyFileError("This is not a Rally key file (it is not JSON).");
  }
  if (!file || !Array.isArray(file.keys)) throw new KeyFileError("This is not a Rally key file (it has no keys).");
  const kept = [];
  for (const k of file.keys) {
    if (!k || k.algorithm !== X25519) continue;
    let pub, priv;
    try {
      pub = fromBase64(k.publicKey);
      priv = fromBase64(k.privateKey);
    } catch {
      throw new KeyFileError("A key in this file is damaged (not base64url).");
    }
    if (pub.length !== 32 || priv.length !== 32) throw new KeyFileError("A key in this file is damaged (wrong length).");
    let name = k.name || "";
    if (!name) {
      const match = registered.find((r) => r.algorithm === X25519 && bytesEqual(fromBase64(r.publicKey || ""), pub));
      if (!match) {
        throw new KeyFileError("A key in this file is not registered yet. Register it with `rally keys register FILE`, then import the file again.");
      }
      name = match.name;
    }
    let privateKey;
    try {
      privateKey = await importPrivateKey(priv, pub);
    } catch {
      throw new KeyFileError("A key in this file is damaged: its private key does not belong to its public key.");
    } finally {
      priv.fill(0);
    }
    kept.push({
      id: name.split("/").pop(), name, algorithm: X25519, publicKey: pub,
      fingerprint: await fingerprint(X25519, pub), privateKey, addTime: new Date().toISOString(),
    });
  }
  if (!kept.length) throw new KeyFileError("This key file holds no X25519 key to open envelopes with.");
  await saveKeys(kept);
  return kept;
}

// newKeyFile makes the key pairs of a new key file, as `rally keys create` does: an
// X25519 key pair to seal to and an Ed25519 signing key (for signed announcements, a
// later issue). A browser whose WebCrypto has no Ed25519 (Chromium before 137, older
// Safari) gets the X25519 key alone; `rally keys create` can add a signing key later.
// It returns the file's keys ({name: "", algorithm, publicKey, privateKey}, base64url
// without padding; the private keys as their 32 raw bytes, the Ed25519 one its seed).
export async function newKeyFile() {
  const keys = [];
  const pair = async (alg, usages) => {
    const kp = await crypto.subtle.generateKey({ name: alg }, true, usages);
    const pub = new Uint8Array(await crypto.subtle.exportKey("raw", kp.publicKey));
    const jwk = await crypto.subtle.exportKey("jwk", kp.privateKey);
    return { publicKey: toBase64URL(pub), privateKey: jwk.d };
  };
  keys.push({ name: "", algorithm: X25519, ...await pair("X25519", ["deriveBits"]) });
  try {
    keys.push({ name: "", algorithm: ED25519, ...await pair("Ed25519", ["sign", "verify"]) });
  } catch {
    // No Ed25519 in this browser's WebCrypto: the X25519 key alone.
  }
  return keys;
}

// keyFileText writes keys as the rally CLI writes a key file (json.MarshalIndent with two
// spaces, a final newline), so that `rally rsvps list --key FILE` reads it.
export function keyFileText(keys) {
  return JSON.stringify({ keys: keys.map((k) => ({ name: k.name, algorithm: k.algorithm, publicKey: k.publicKey, privateKey: k.privateKey })) }, null, 2) + "\n";
}
