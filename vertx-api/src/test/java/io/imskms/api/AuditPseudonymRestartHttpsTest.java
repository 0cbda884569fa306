package io.imskms.api;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.imskms.api.config.ApiConfig;
import io.imskms.api.config.ConfigLoader;
import io.imskms.audit.AuditRecord;
import io.imskms.audit.LogVerifier;
import io.imskms.audit.VerifierKey;
import io.imskms.client.Bootstrapping;
import io.imskms.client.Credential;
import io.imskms.client.DeviceEnrolment;
import io.imskms.client.RandomSource;
import io.imskms.core.LongTermKeys;
import io.imskms.core.directory.MailboxDirectory;
import io.imskms.core.enrolment.EcdhEnrolment;
import io.imskms.core.keys.KeyRing;
import io.imskms.hsm.SoftHsmTestToken;
import io.imskms.protocol.BootstrapRequest;
import io.imskms.protocol.Role;
import io.vertx.core.Vertx;
import io.vertx.core.http.PoolOptions;
import io.vertx.core.net.PemTrustOptions;
import io.vertx.ext.web.client.WebClient;
import io.vertx.ext.web.client.WebClientOptions;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * With {@code audit.identities: pseudonymised}, one identity gets the same {@code p1:} value
 * before and after a restart of the server on the same SoftHSM2 token (a new module
 * initialisation, an empty cache), and never appears in clear; the log of both runs verifies.
 */
class AuditPseudonymRestartHttpsTest {
  private static final String ALICE = "sip:alice@ims.example.com";

  @Test
  void theSameIdentity_hasTheSamePseudonym_acrossARestart() throws Exception {
    try (SoftHsmTestToken token = SoftHsmTestToken.create()) {
      Path work = Files.createTempDirectory(Path.of(System.getProperty("java.io.tmpdir")),
          "pseudonym-restart-");
      Path directory = work.resolve("directory.json");
      Files.writeString(directory, "{\"version\":1,\"mailboxes\":{\"sip:vm.bob@ims.example.com\":"
          + "{\"users\":[\"sip:bob@ims.example.com\"]}}}", StandardCharsets.UTF_8);
      Map<String, String> env = new HashMap<>();
      env.put("KMS_HTTP_HOST", "127.0.0.1");
      env.put("KMS_HTTP_PORT", "0");
      env.put("KMS_DEV_ENABLED", "true");
      env.put("KMS_DEV_TLS_DIR", work.resolve("tls").toString());
      env.put("KMS_HSM_MODULE", token.module().toString());
      env.put("KMS_HSM_TOKEN_LABEL", token.label());
      env.put("KMS_HSM_PIN", token.userPinForTest());
      env.put("KMS_HSM_POOL_SIZE", "2");
      env.put("KMS_CORE_DIRECTORY_FILE", directory.toString());
      env.put("KMS_CORE_PROVISION_KEYS", "true");
      env.put("KMS_CORE_KEY_MANIFEST", work.resolve("keys.json").toString());
      env.put("KMS_AUDIT_DIR", work.resolve("audit").toString());
      env.put("KMS_AUDIT_IDENTITIES", "pseudonymised");
      ApiConfig config = ConfigLoader.load(null, env);
      String vkey = null;
      for (int run = 0; run < 2; run++) {
        try (KmsApplication app = KmsApplication.start(config, env,
            hsm -> CoreOperations.open(config.core(), hsm))) {
          vkey = app.audit().verifierKey().encode();
          DeviceEnrolment device = new DeviceEnrolment(Role.UE, ALICE);
          Credential alice = device.open(new EcdhEnrolment(app.hsm(),
              LongTermKeys.of(KeyRing.load(app.hsm())), MailboxDirectory.load(directory))
              .enrol(device.requestBytes()));
          Vertx vertx = Vertx.vertx();
          WebClient ue = WebClient.create(vertx, new WebClientOptions().setSsl(true)
              .setVerifyHost(true).setTrustOptions(new PemTrustOptions()
                  .addCertPath(app.devTls().caCert().toString()))
              .setDefaultHost("localhost").setDefaultPort(app.port()), new PoolOptions());
          try {
            Bootstrapping b = new Bootstrapping(Clock.systemUTC(), RandomSource.secure());
            int status = ue.post("/v1/bootstrap").putHeader("content-type", "application/json")
                .sendBuffer(JsonMessages.toJson(BootstrapRequest.decode(
                    b.start(alice).requestBytes())).toBuffer()).await().statusCode();
            assertEquals(200, status, "bootstrap of run " + run);
          } finally {
            ue.close();
            vertx.close().await();
          }
        }
      }
      Path dir = work.resolve("audit");
      LogVerifier.Report report = LogVerifier.verify(dir, VerifierKey.parse(vkey), List.of());
      assertTrue(report.ok(), report.findings().toString());
      List<AuditRecord> records = AuditTrailHttpsTest.records(dir);
      List<String> callers = new ArrayList<>();
      int starts = 0;
      for (AuditRecord r : records) {
        if (r.event().event().equals("server.start")) {
          starts++;
          assertTrue(r.event().detail().contains("identities pseudonymised"), r.toString());
        }
        if (r.event().event().equals("bootstrap") && r.event().outcome().wire().equals("ok")) {
          callers.add(starts + " " + r.event().caller());
        }
      }
      assertEquals(2, callers.size(), callers.toString());
      String first = callers.get(0).substring(2);
      assertTrue(first.matches("p1:[0-9a-f]{64}"), first);
      assertEquals(List.of("1 " + first, "2 " + first), callers, "one pseudonym per run");
      assertFalse(String.join("\n", AuditTrailHttpsTest.lines(dir)).contains("alice@"));
    }
  }
}
