package io.imskms.mailbox;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpClient;
import io.vertx.core.http.HttpClientOptions;
import io.vertx.core.http.HttpClientResponse;
import io.vertx.core.http.HttpServer;
import io.vertx.core.http.HttpServerOptions;
import io.vertx.core.http.RequestOptions;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Pins the Vert.x behaviour that {@code KmsHttpClient.send} is written around: with Vert.x
 * 5.0.7, a response whose {@code body()} is first asked for after the response was read never
 * completes (vert.x issue 6038, fixed upstream after 5.0.10). A caller that builds
 * {@code request → send → body} as one chain on its own thread loses that race whenever its
 * thread is slower than the round trip (a cold JVM, a loaded machine, a fast server): two
 * fresh-clone runs of {@code kms demo} waited for such an answer until the client's hard bound.
 * {@code KmsHttpClient} asks for the body in the event-loop task that sends the request.
 *
 * <p>When a Vert.x upgrade makes {@link #bodyAskedForAfterTheResponseWasRead_neverCompletes}
 * fail, the race is fixed upstream; the client's ordering stays correct either way.
 */
class VertxResponseBodyRaceTest {
  private static Vertx vertx;
  private static HttpServer server;
  private static HttpClient http;

  @BeforeAll
  static void setUp() {
    vertx = Vertx.vertx();
    server = vertx.createHttpServer(new HttpServerOptions().setHost("127.0.0.1").setPort(0))
        .requestHandler(r -> r.response().putHeader("content-type", "application/json")
            .end("{\"status\":\"ready\"}"))
        .listen().await();
    http = vertx.createHttpClient(new HttpClientOptions().setKeepAlive(true));
  }

  @AfterAll
  static void tearDown() {
    if (http != null) {
      http.close().await();
    }
    if (server != null) {
      server.close().await();
    }
    if (vertx != null) {
      vertx.close().await();
    }
  }

  private static RequestOptions get() {
    return new RequestOptions().setHost("127.0.0.1").setPort(server.actualPort())
        .setURI("/health/ready");
  }

  @Test
  void bodyAskedForAfterTheResponseWasRead_neverCompletes() throws Exception {
    HttpClientResponse resp = http.request(get()).compose(req -> req.send())
        .await(5, TimeUnit.SECONDS);
    Thread.sleep(200); // the caller's thread is late: the loop has read the whole answer
    CompletableFuture<Buffer> body = resp.body().toCompletionStage().toCompletableFuture();
    Thread.sleep(1_000);
    assertEquals(200, resp.statusCode());
    assertFalse(body.isDone(), "the late body() completed: Vert.x no longer drops it");
  }

  @Test
  void bodyAskedForInTheTaskThatSends_completes_howeverLateTheCaller() throws Exception {
    Future<Buffer> f = http.request(get())
        .compose(req -> req.send().compose(HttpClientResponse::body));
    Thread.sleep(200); // the same late caller
    assertEquals("{\"status\":\"ready\"}", f.await(5, TimeUnit.SECONDS).toString());
  }
}
