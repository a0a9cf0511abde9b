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
 * The server's TLS credentials, with every file checked first: a garbage certificate, a key
 * that is not the certificate's, or an unusable client CA is one line naming the flag —
 * never a stack trace, never key material, and never a server that listens and then
 * refuses every client.
 */
export function serverCredentials(settings: TlsSettings): ServerCredentials {
  if (settings.tlsCert === "") return ServerCredentials.createInsecure();
  const certPem = readSetting(settings.tlsCert, "--tls-cert");
  const keyPem = readSetting(settings.tlsKey, "--tls-key");
  const [leaf] = certificates(certPem, settings.tlsCert, "--tls-cert");
  let key;
  try {
    key = createPrivateKey(keyPem);
  } catch {
    invalid(`--tls-key ${settings.tlsKey}: not a PEM private key (or it is encrypted; give an unencrypted key)`);
  }
  if (!leaf!.checkPrivateKey(key)) {
    invalid(`--tls-key ${settings.tlsKey} is not the key of the certificate in --tls-cert ${settings.tlsCert}`);
  }
  const clientCa = settings.tlsClientCa === "" ? null : readSetting(settings.tlsClientCa, "--tls-client-ca");
  if (clientCa) certificates(clientCa, settings.tlsClientCa, "--tls-client-ca");
  try {
    createSecureContext({ cert: certPem, key: keyPem, ...(clientCa ? { ca: clientCa } : {}) });
  } catch (error) {
    invalid(`--tls-cert/--tls-key/--tls-client-ca: OpenSSL refused them (${(error as Error).message.split("\n")[0]})`);
  }
  return ServerCredentials.createSsl(clientCa, [{ cert_chain: certPem, private_key: keyPem }], clientCa !== null);
}
