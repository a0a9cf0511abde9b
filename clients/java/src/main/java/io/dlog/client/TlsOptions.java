package io.dlog.client;

import java.nio.file.Path;
import java.util.Objects;

/**
 * TLS for a {@link DlogClient}: the CA to trust (default: the system roots), and for mutual TLS a
 * client certificate chain and its PKCS#8 private key, all PEM files.
 *
 * <pre>{@code
 * TlsOptions.systemRoots();
 * TlsOptions.trusting(Path.of("ca.pem")).clientCertificate(Path.of("client.pem"), Path.of("client.key"));
 * }</pre>
 */
public final class TlsOptions {
  final Path ca;
  final Path certChain;
  final Path privateKey;
  final String serverName;

  private TlsOptions(Path ca, Path certChain, Path privateKey, String serverName) {
    this.ca = ca;
    this.certChain = certChain;
    this.privateKey = privateKey;
    this.serverName = serverName;
  }

  /** Trust the system's CA roots. */
  public static TlsOptions systemRoots() {
    return new TlsOptions(null, null, null, null);
  }

  /** Trust the CA certificate(s) in this PEM file. */
  public static TlsOptions trusting(Path caPem) {
    return new TlsOptions(Objects.requireNonNull(caPem), null, null, null);
  }

  /** Mutual TLS: present this certificate chain and key. */
  public TlsOptions clientCertificate(Path certChainPem, Path privateKeyPem) {
    return new TlsOptions(ca, Objects.requireNonNull(certChainPem), Objects.requireNonNull(privateKeyPem), serverName);
  }

  /** The name the server's certificate must carry, when it differs from the address host. */
  public TlsOptions serverName(String name) {
    return new TlsOptions(ca, certChain, privateKey, Objects.requireNonNull(name));
  }
}
