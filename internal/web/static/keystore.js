// The organiser's private keys in this browser: imported from a key file (the rally CLI's
// `rally keys create --out FILE`, or one the console made) and kept in IndexedDB as
// non-extractable CryptoKeys, which this page can use to open envelopes or sign
// announcements but which no script can read back. Never uploaded, never in localStorage
// or sessionStorage.
//
// Two databases, each with one object store "keys":
//   rally-keys          the X25519 keys that open envelopes, by key ID (keyPath "id")
//   rally-signing-keys  the one Ed25519 signing key, under the key "signing"
// The signing key has a database of its own, rather than a second store in rally-keys,
// because adding a store means a new version of rally-keys, which pages opened before
// the change (at version 1) could no longer open.
import { X25519, ED25519, fromBase64, toBase64URL, fingerprint, importPrivateKey, bytesEqual } from "./envelope.js";

const DB = "rally-keys";
const SIGNING_DB = "rally-signing-keys";
const STORE = "keys";
const SIGNING = "signing";

function db(name = DB) {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open(name, 1);
    req.onupgradeneeded = () => req.result.createObjectStore(STORE, name === DB ? { keyPath: "id" } : undefined);
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

function run(mode, fn, name = DB) {
  return db(name).then((d) => new Promise((resolve, reject) => {
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

// forgetKeys removes every key from this browser, the signing key too. The key file,
// wherever it is kept, is untouched.
export async function forgetKeys() {
  await run("readwrite", (s) => s.clear());
  await forgetSigningKey();
}

// loadSigningKey returns the signing key kept in this browser, or null: {id, name,
// algorithm, publicKey, fingerprint, privateKey, addTime}, with id and name empty while
// the key is not registered, publicKey the raw bytes and privateKey a non-extractable
// Ed25519 CryptoKey that can only sign.
export async function loadSigningKey() {
  try {
    return (await run("readonly", (s) => s.get(SIGNING), SIGNING_DB)) || null;
  } catch {
    return null;
  }
}

// saveSigningKey keeps k as this browser's signing key, in place of any other: an
// organiser signs with one key at a time, and which one is never in doubt.
export async function saveSigningKey(k) {
  await run("readwrite", (s) => s.put(k, SIGNING), SIGNING_DB);
  return k;
}

// forgetSigningKey removes the signing key from this browser.
export function forgetSigningKey() {
  return run("readwrite", (s) => s.clear(), SIGNING_DB);
}

// signingKeyEntry makes what saveSigningKey keeps from a raw public key and its private
// CryptoKey; name is the registered key's resource name, or "" before it is registered.
async function signingKeyEntry(name, publicKey, privateKey) {
  return {
    id: name ? name.split("/").pop() : "", name, algorithm: ED25519, publicKey,
    fingerprint: await fingerprint(ED25519, publicKey), privateKey, addTime: new Date().toISOString(),
  };
}

// importSigningKey makes a non-extractable Ed25519 private key, for signing only, from
// its 32-byte seed and public key, after checking that they belong together (a JWK's x
// is not checked against d by every browser): a signature it makes must verify under the
// public key.
export async function importSigningKey(seed, pub) {
  const privateKey = await crypto.subtle.importKey("jwk",
    { kty: "OKP", crv: "Ed25519", d: toBase64URL(seed), x: toBase64URL(pub) }, { name: "Ed25519" }, false, ["sign"]);
  const probe = crypto.getRandomValues(new Uint8Array(32));
  const sig = await crypto.subtle.sign({ name: "Ed25519" }, privateKey, probe);
  const publicKey = await crypto.subtle.importKey("raw", pub, { name: "Ed25519" }, false, ["verify"]);
  if (!await crypto.subtle.verify({ name: "Ed25519" }, publicKey, sig, probe)) {
    throw new Error("the private key does not belong to its public key");
  }
  return privateKey;
}

// generateSigningKey makes a new Ed25519 key pair in this browser, its private half not
// extractable: it exists nowhere else, so it is lost with this browser's data (make a new
// one then, and revoke this one). It returns {publicKey (raw bytes), privateKey}, to be
// registered, then kept with keepSigningKey. It throws when WebCrypto has no Ed25519.
export async function generateSigningKey() {
  const kp = await crypto.subtle.generateKey({ name: "Ed25519" }, false, ["sign", "verify"]);
  return { publicKey: new Uint8Array(await crypto.subtle.exportKey("raw", kp.publicKey)), privateKey: kp.privateKey };
}

// keepSigningKey keeps a key pair (from generateSigningKey, registered as name) as this
// browser's signing key.
export async function keepSigningKey(name, { publicKey, privateKey }) {
  return saveSigningKey(await signingKeyEntry(name, publicKey, privateKey));
}

// matchRegistered finds, among registered (the organiser's keys, as ListOrganiserKeys
// returns them), the one with k's algorithm and public key, or undefined.
export function matchRegistered(k, registered = []) {
  return registered.find((r) => {
    if (r.algorithm !== k.algorithm) return false;
    try {
      return bytesEqual(fromBase64(r.publicKey || ""), k.publicKey);
    } catch {
      return false;
    }
  });
}

// KeyFileError is a key file that cannot be used, said for the organiser.
export class KeyFileError extends Error {}

// importKeyFile reads a key file's text ({"keys": [{name, algorithm, publicKey,
// privateKey}]}) and keeps its X25519 keys and its Ed25519 signing key (the last one, if
// there are several) in this browser. A key without a name (written with --no-register) is
// named after the registered key with the same public key among registered (the signed-in
// organiser's keys), if any; an X25519 key that is not registered is refused (nothing is
// sealed to it), a signing key is kept without a name, for the console to register. It
// returns the keys kept, the signing key among them.
export async function importKeyFile(text, registered = []) {
  let file;
  try {
    file = JSON.parse(text);
  } catch {
    throw new KeyFileError("This is not a Rally key file (it is not JSON).");
  }
  if (!file || !Array.isArray(file.keys)) throw new KeyFileError("This is not a Rally key file (it has no keys).");
  const kept = [];
  let signing = null, unsupported = null;
  for (const k of file.keys) {
    if (k && k.algorithm === ED25519) {
      try {
        signing = await readSigningKey(k, registered);
      } catch (err) {
        // A browser without Ed25519 still opens envelopes with the file's X25519 keys.
        if (!(err instanceof NoEd25519Error)) throw err;
        unsupported = err;
      }
      continue;
    }
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
  if (!kept.length && unsupported) throw unsupported;
  if (!kept.length && !signing) {
    throw new KeyFileError("This key file holds no X25519 key to open envelopes with, and no Ed25519 key to sign announcements with.");
  }
  if (kept.length) await saveKeys(kept);
  if (signing) kept.push(await saveSigningKey(signing));
  return kept;
}

// NoEd25519Error is a signing key that this browser's WebCrypto cannot use.
class NoEd25519Error extends KeyFileError {}

// readSigningKey reads a key file's Ed25519 entry into what saveSigningKey keeps.
async function readSigningKey(k, registered) {
  let pub, seed;
  try {
    pub = fromBase64(k.publicKey);
    seed = fromBase64(k.privateKey);
  } catch {
    throw new KeyFileError("The signing key in this file is damaged (not base64url).");
  }
  if (pub.length !== 32 || seed.length !== 32) throw new KeyFileError("The signing key in this file is damaged (wrong length).");
  let privateKey;
  try {
    privateKey = await importSigningKey(seed, pub);
  } catch (err) {
    if (err?.name === "NotSupportedError") {
      throw new NoEd25519Error("This browser cannot sign (its WebCrypto has no Ed25519): use a current Chromium or Firefox, or sign with the rally CLI.");
    }
    throw new KeyFileError("The signing key in this file is damaged: its private key does not belong to its public key.");
  } finally {
    seed.fill(0);
  }
  const name = k.name || matchRegistered({ algorithm: ED25519, publicKey: pub }, registered)?.name || "";
  return signingKeyEntry(name, pub, privateKey);
}

// newKeyFile makes the key pairs of a new key file, as `rally keys create` does: an
// X25519 key pair to seal to and an Ed25519 key to sign announcements with. A browser
// whose WebCrypto has no Ed25519 (Chromium before 137, older Safari) gets the X25519 key
// alone; the console can make a signing key later, in a browser that can.
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
