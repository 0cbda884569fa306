package io.imskms.demo;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.imskms.api.TestKms;
import io.imskms.cli.ExitCodes;
import io.imskms.client.CleartextCredentialFile;
import io.imskms.client.RandomSource;
import io.imskms.protocol.Role;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpServer;
import io.vertx.core.http.HttpServerOptions;
import io.vertx.core.http.HttpServerRequest;
import io.vertx.core.json.JsonObject;
import io.vertx.core.net.SelfSignedCertificate;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Base64;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * {@code kms demo}'s failure paths. The demo talks to a stub KMS: an HTTPS front (its own
 * self-signed certificate, given to the demo as its CA) that passes every request on to a real
 * KMS on a SoftHSM2 token ({@link TestKms}, one per class) except where a test makes it lie: the
 * attack (the second {@code /v1/deferred/retrieve}) answered 200 or with another refusal than
 * 403 NOT_AUTHORISED, or the stored media tampered with before UE-B fetches it. Each must end in
 * exit 1; the honest run in exit 0 with owner-only media files.
 */
class DemoFailurePathTest {
  private enum Mode { HONEST, ATTACK_ANSWERED, ATTACK_WRONG_CODE, TAMPER_MEDIA }

  private static TestKms kms;
  private static Vertx vertx;
  private static HttpServer front;
  private static Path tls;
  private static Path creds;
  private static volatile Mode mode = Mode.HONEST;
  private static volatile Path mailboxDir;
  private static final AtomicInteger RETRIEVALS = new AtomicInteger();

  @BeforeAll
  static void setUp() throws Exception {
    kms = TestKms.start(env -> { });
    creds = kms.work.resolve("demo-creds");
    Files.createDirectories(creds);
    CleartextCredentialFile.write(kms.enrol(Role.UE, DemoCommand.ALICE),
        DemoCommand.credentialFile(creds, DemoCommand.ALICE), false);
    CleartextCredentialFile.write(kms.enrol(Role.UE, DemoCommand.BOB),
        DemoCommand.credentialFile(creds, DemoCommand.BOB), false);
    CleartextCredentialFile.write(kms.enrol(Role.MAILBOX, DemoCommand.VM_BOB),
        DemoCommand.credentialFile(creds, DemoCommand.VM_BOB), false);

    SelfSignedCertificate cert = SelfSignedCertificate.create("localhost");
    tls = kms.work.resolve("demo-tls");
    Files.createDirectories(tls.resolve("clients"));
    Files.copy(Path.of(cert.certificatePath()), tls.resolve("ca.pem"));
    String mb = DemoCommand.safeName(DemoCommand.VM_BOB);
    Files.copy(kms.app.devTls().clientCert(DemoCommand.VM_BOB),
        tls.resolve("clients").resolve(mb + ".pem"));
    Files.copy(kms.app.devTls().clientKey(DemoCommand.VM_BOB),
        tls.resolve("clients").resolve(mb + "-key.pem"));

    vertx = Vertx.vertx();
    front = vertx.createHttpServer(new HttpServerOptions().setHost("127.0.0.1").setPort(0)
        .setSsl(true).setEnabledSecureTransportProtocols(Set.of("TLSv1.3"))
        .setKeyCertOptions(cert.keyCertOptions()))
        .requestHandler(r -> r.body().onSuccess(body -> handle(r, body)))
        .listen().await();
  }

  @AfterAll
  static void tearDown() {
    if (front != null) {
      front.close().await();
      vertx.close().await();
    }
    if (kms != null) {
      kms.close();
    }
  }

  /** Passes the request on (as the mailbox's client, which the KMS accepts on every route). */
  private static void handle(HttpServerRequest r, Buffer body) {
    if (r.path().equals("/v1/deferred/retrieve") && RETRIEVALS.incrementAndGet() == 1
        && mode == Mode.TAMPER_MEDIA) {
      tamperStoredMedia();
    }
    if (r.path().equals("/v1/deferred/retrieve") && RETRIEVALS.get() == 2) {
      if (mode == Mode.ATTACK_ANSWERED) {
        reply(r, 200, new JsonObject().put("wrappedK", Base64.getUrlEncoder().withoutPadding()
            .encodeToString(RandomSource.secure().next(40))));
        return;
      }
      if (mode == Mode.ATTACK_WRONG_CODE) {
        reply(r, 401, new JsonObject().put("code", "INTEGRITY"));
        return;
      }
    }
    kms.vmBob.request(r.method(), r.uri()).putHeader("content-type", "application/json")
        .sendBuffer(body)
        .compose(a -> {
          r.response().setStatusCode(a.statusCode());
          if (a.getHeader("content-type") != null) {
            r.response().putHeader("content-type", a.getHeader("content-type"));
          }
          return r.response().end(a.body() == null ? Buffer.buffer() : a.body());
        })
        .onFailure(e -> r.response().setStatusCode(599).end());
  }

  private static void reply(HttpServerRequest r, int status, JsonObject json) {
    r.response().setStatusCode(status).putHeader("content-type", "application/json")
        .end(json.encode());
  }

  /** Flips a bit of every stored media container: UE-B will fetch altered media. */
  private static void tamperStoredMedia() {
    try (Stream<Path> files = Files.walk(mailboxDir)) {
      for (Path f : (Iterable<Path>) files.filter(p -> p.endsWith("media.imsm"))::iterator) {
        byte[] b = Files.readAllBytes(f);
        b[b.length - 20] ^= 1;
        Files.write(f, b);
      }
    } catch (java.io.IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
  }

  private static CliRun demo(Mode m, String name, Path credentials) {
    mode = m;
    RETRIEVALS.set(0);
    mailboxDir = kms.work.resolve("mailbox-" + name);
    return CliRun.demo(Map.of(), "--server", "https://localhost:" + front.actualPort(),
        "--tls-dir", tls.toString(), "--credentials", credentials.toString(), "--mailbox-dir",
        mailboxDir.toString(), "--media-out", kms.work.resolve("media-" + name).toString(),
        "--seconds", "0.2");
  }

  private static String mode(Path p) throws Exception {
    return PosixFilePermissions.toString(Files.getPosixFilePermissions(p));
  }

  @Test
  void honestRun_passes_andWritesTheMediaOwnerOnly() throws Exception {
    Path media = kms.work.resolve("media-honest");
    Files.createDirectories(media);
    Files.setPosixFilePermissions(media, PosixFilePermissions.fromString("rwxr-xr-x"));
    CliRun r = demo(Mode.HONEST, "honest", creds);
    assertEquals(ExitCodes.OK, r.exitCode(), r.toString());
    assertTrue(r.out().contains("403 NOT_AUTHORISED") && r.out().contains("DEMO PASSED"),
        r.toString());
    assertEquals("rwx------", mode(media));
    assertEquals("rw-------", mode(media.resolve("sent.wav")));
    assertEquals("rw-------", mode(media.resolve("received.wav")));
    assertEquals(-1L, Files.mismatch(media.resolve("sent.wav"), media.resolve("received.wav")));
  }

  @Test
  void attackAnswered_exits1() {
    CliRun r = demo(Mode.ATTACK_ANSWERED, "answered", creds);
    assertEquals(ExitCodes.FAILURE, r.exitCode(), r.toString());
    assertTrue(r.out().contains("NOT REFUSED") && r.out().contains("DEMO FAILED"), r.toString());
    assertTrue(r.out().contains("byte for byte: yes"), "only the attack failed: " + r);
  }

  @Test
  void attackRefusedWithAnotherCode_exits1() {
    CliRun r = demo(Mode.ATTACK_WRONG_CODE, "wrongcode", creds);
    assertEquals(ExitCodes.FAILURE, r.exitCode(), r.toString());
    assertTrue(r.out().contains("not as expected: 401 INTEGRITY")
        && r.out().contains("DEMO FAILED"), r.toString());
  }

  @Test
  void mediaAlteredInTheMailbox_exits1() {
    // Authenticated encryption: altered media cannot decrypt to different bytes; the demo stops
    // at decryption instead of comparing, and must still fail.
    CliRun r = demo(Mode.TAMPER_MEDIA, "tampered", creds);
    assertEquals(ExitCodes.FAILURE, r.exitCode(), r.toString());
    assertTrue(!r.out().contains("DEMO PASSED") && r.err().contains("INTEGRITY"), r.toString());
    assertTrue(!Files.exists(kms.work.resolve("media-tampered").resolve("received.wav")),
        r.toString());
  }

  @Test
  void credentialOfAnotherPrincipal_isRefused_exit2() throws Exception {
    Path swapped = kms.work.resolve("demo-creds-swapped");
    Files.createDirectories(swapped);
    for (String id : new String[] {DemoCommand.ALICE, DemoCommand.VM_BOB}) {
      Files.copy(DemoCommand.credentialFile(creds, id), DemoCommand.credentialFile(swapped, id));
    }
    // bob's file holds alice's credential: same role, wrong principal.
    Files.copy(DemoCommand.credentialFile(creds, DemoCommand.ALICE),
        DemoCommand.credentialFile(swapped, DemoCommand.BOB), StandardCopyOption.REPLACE_EXISTING);
    CliRun r = demo(Mode.HONEST, "swapped", swapped);
    assertEquals(ExitCodes.PREREQUISITE, r.exitCode(), r.toString());
    assertTrue(r.err().contains("is the credential of " + DemoCommand.ALICE + ", not of "
        + DemoCommand.BOB), r.toString());
  }
}
