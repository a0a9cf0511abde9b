import { X509Certificate, createPrivateKey } from "node:crypto";
import { readFileSync } from "node:fs";
import { createSecureContext } from "node:tls";
import { ServerCredentials } from "@grpc/grpc-js";
import { DlogError } from "../errors.js";

export interface TlsSettings {
  tlsCert: string;
  tlsKey: string;
  tlsClientCa: string;
}

function invalid(message: string): never {
  throw new DlogError("INVALID_ARGUMENT", message);
}

function readSetting(path: string, flag: string): Buffer {
  try {
    return readFileSync(path);
  } catch (error) {
    return invalid(`${flag} ${path}: cannot read it (${(error as NodeJS.ErrnoException).code ?? "error"})`);
  }
}

/** Every certificate of a PEM bundle, each checked; at least one. */
function certificates(pem: Buffer, path: string, flag: string): X509Certificate[] {
  const blocks = pem.toString("latin1").match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length === 0) invalid(`${flag} ${path}: no PEM certificate in it (expected "-----BEGIN CERTIFICATE-----" blocks)`);
  return blocks.map((block, i) => {
    try {
      return new X509Certificate(block);
    } catch {
      return invalid(`${flag} ${path}: certificate ${i + 1} of ${blocks.length} is not a valid X.509 certificate`);
    }
  });
}

/**
 * A certificate chain and its key, both checked: a garbage certificate or a key that is not the
 * certificate's is one line naming the flag — never a stack trace, never key material.
 */
export function keyPair(certPath: string, keyPath: string, certFlag: string, keyFlag: string): { certPem: Buffer; keyPem: Buffer } {
  const certPem = readSetting(certPath, certFlag);
  const keyPem = readSetting(keyPath, keyFlag);
  const [leaf] = certificates(certPem, certPath, certFlag);
  let key;
  try {
    key = createPrivateKey(keyPem);
  } catch {
    invalid(`${keyFlag} ${keyPath}: not a PEM private key (or it is encrypted; give an unencrypted key)`);
  }
  if (!leaf!.checkPrivateKey(key)) {
    invalid(`${keyFlag} ${keyPath} is not the key of the certificate in ${certFlag} ${certPath}`);
  }
  try {
    createSecureContext({ cert: certPem, key: keyPem });
  } catch (error) {
    invalid(`${certFlag}/${keyFlag}: OpenSSL refused them (${(error as Error).message.split("\n")[0]})`);
  }
  return { certPem, keyPem };
}

/**
 * The server's TLS credentials, with every file checked first (`keyPair`), and an unusable
 * client CA refused at start — never a server that listens and then refuses every client.
 */
export function serverCredentials(settings: TlsSettings): ServerCredentials {
  if (settings.tlsCert === "") return ServerCredentials.createInsecure();
  const { certPem, keyPem } = keyPair(settings.tlsCert, settings.tlsKey, "--tls-cert", "--tls-key");
  const clientCa = settings.tlsClientCa === "" ? null : readSetting(settings.tlsClientCa, "--tls-client-ca");
  if (clientCa) certificates(clientCa, settings.tlsClientCa, "--tls-client-ca");
  try {
    createSecureContext({ cert: certPem, key: keyPem, ...(clientCa ? { ca: clientCa } : {}) });
  } catch (error) {
    invalid(`--tls-cert/--tls-key/--tls-client-ca: OpenSSL refused them (${(error as Error).message.split("\n")[0]})`);
  }
  return ServerCredentials.createSsl(clientCa, [{ cert_chain: certPem, private_key: keyPem }], clientCa !== null);
}
