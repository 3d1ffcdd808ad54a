package io.bagpipe.cli;

import io.bagpipe.allreduce.ChannelAuth;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code bagpipe keys --out DIR}: what a cluster needs to keep strangers out
 * (docs/security.md): a PKCS12 key store with one key pair and self-signed certificate
 * for the cluster's nodes, a trust store holding that certificate (Artery over mutual
 * TLS admits only nodes presenting it), the stores' password, and the data channel's
 * secret. Every file is readable by this user only. Prints the configuration lines.
 * Uses the JDK's {@code keytool}.
 */
@Command(name = "keys", mixinStandardHelpOptions = true,
    description = "Make a TLS key store, trust store and data channel secret for a cluster, and print the settings.")
final class KeysCommand implements Callable<Integer> {

  @Option(names = "--out", required = true, description = "Folder to write node.p12, trust.p12, password and secret to.")
  Path out;

  @Option(names = "--days", description = "Validity of the certificate in days (default: ${DEFAULT-VALUE}).")
  int days = 365;

  @Option(names = "--force", description = "Replace files already in the folder.")
  boolean force;

  @Override
  public Integer call() throws Exception {
    if (days < 1) {
      throw new IllegalArgumentException("--days must be >= 1, got " + days);
    }
    Files.createDirectories(out);
    Path keyStore = out.resolve("node.p12");
    Path trustStore = out.resolve("trust.p12");
    Path certificate = out.resolve("node.crt");
    Path passwordFile = out.resolve("password");
    Path secretFile = out.resolve("secret");
    for (Path p : List.of(keyStore, trustStore, passwordFile, secretFile)) {
      if (Files.exists(p) && !force) {
        throw new IllegalArgumentException(p + " exists; pass --force to replace it (every node then needs the new"
            + " files)");
      }
    }
    for (Path p : List.of(keyStore, trustStore, certificate)) {
      Files.deleteIfExists(p);
    }
    byte[] pw = new byte[24];
    new SecureRandom().nextBytes(pw);
    String password = HexFormat.of().formatHex(pw);
    writePrivate(passwordFile, password + "\n");
    writePrivate(secretFile, ChannelAuth.newSecret() + "\n");
    keytool("-genkeypair", "-alias", "bagpipe-node", "-keyalg", "EC", "-groupname", "secp256r1",
        "-sigalg", "SHA256withECDSA", "-dname", "CN=bagpipe-node", "-validity", Integer.toString(days),
        "-storetype", "PKCS12", "-keystore", keyStore.toString(), "-storepass", password, "-keypass", password);
    keytool("-exportcert", "-rfc", "-alias", "bagpipe-node", "-keystore", keyStore.toString(), "-storetype", "PKCS12",
        "-storepass", password, "-file", certificate.toString());
    keytool("-importcert", "-noprompt", "-alias", "bagpipe-node", "-file", certificate.toString(), "-storetype",
        "PKCS12", "-keystore", trustStore.toString(), "-storepass", password);
    restrict(keyStore);
    restrict(trustStore);
    Path abs = out.toAbsolutePath().normalize();
    System.out.println("Wrote " + abs + ": node.p12 (key store), trust.p12 (trust store), node.crt, password, secret.");
    System.out.println("Copy the folder to every node (keep it private) and add to each node's configuration:");
    System.out.println();
    System.out.println("bagpipe.security {");
    System.out.println("  secret-file = \"" + abs.resolve("secret") + "\"");
    System.out.println("  tls.enabled = on");
    System.out.println("  tls.key-store = \"" + abs.resolve("node.p12") + "\"");
    System.out.println("  tls.trust-store = \"" + abs.resolve("trust.p12") + "\"");
    System.out.println("  tls.password = ${?BAGPIPE_KEYSTORE_PASSWORD}");
    System.out.println("}");
    System.out.println();
    System.out.println("and start each node with BAGPIPE_KEYSTORE_PASSWORD=$(cat " + abs.resolve("password") + ").");
    return 0;
  }

  /** A new secret file for one run of `launch`, readable by this user only and deleted when this process exits. */
  static Path runSecret() throws IOException {
    Path dir = Files.createTempDirectory("bagpipe-run-",
        PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
    Path file = dir.resolve("secret");
    writePrivate(file, ChannelAuth.newSecret() + "\n");
    file.toFile().deleteOnExit();
    dir.toFile().deleteOnExit();
    return file;
  }

  private static void writePrivate(Path file, String text) throws IOException {
    Files.deleteIfExists(file);
    if (FileSystems.getDefault().supportedFileAttributeViews().contains("posix")) {
      Files.createFile(file, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
    } else {
      Files.createFile(file);
    }
    Files.writeString(file, text, StandardCharsets.US_ASCII);
  }

  private static void restrict(Path file) throws IOException {
    if (FileSystems.getDefault().supportedFileAttributeViews().contains("posix")) {
      Files.setPosixFilePermissions(file, PosixFilePermissions.fromString("rw-------"));
    }
  }

  /** Runs the JDK's keytool (next to this JVM's java) with {@code args}; fails with its output. */
  private static void keytool(String... args) throws IOException, InterruptedException {
    Path home = Path.of(System.getProperty("java.home"));
    Path tool = home.resolve("bin").resolve("keytool");
    List<String> cmd = new ArrayList<>();
    cmd.add(Files.isExecutable(tool) ? tool.toString() : "keytool");
    cmd.addAll(List.of(args));
    Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
    String output = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    if (!p.waitFor(60, TimeUnit.SECONDS) || p.exitValue() != 0) {
      p.destroyForcibly();
      throw new IOException("keytool " + args[0] + " failed: " + output.strip());
    }
  }
}
