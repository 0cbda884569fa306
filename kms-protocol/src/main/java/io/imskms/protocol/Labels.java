package io.imskms.protocol;

/**
 * The fixed ASCII labels that start every KDF context and MAC input (docs/protocol.md, "KDF").
 * A label is followed by a zero byte, so no label is a prefix of another context.
 */
public final class Labels {
  private Labels() {}

  public static final String CRED = "imskms/v1/cred";
  public static final String AUTH = "imskms/v1/auth";
  public static final String AUTN = "imskms/v1/autn";
  public static final String KS = "imskms/v1/ks";
  public static final String REQ = "imskms/v1/req";
  public static final String MEDIA = "imskms/v1/media";
  public static final String RESP_A = "imskms/v1/resp-a";
  public static final String RESP_M = "imskms/v1/resp-m";
  public static final String RESP_B = "imskms/v1/resp-b";
  public static final String TICKET_KEK = "imskms/v1/ticket-kek";
  public static final String E2M_A = "imskms/v1/e2m-a";
  public static final String E2M_M = "imskms/v1/e2m-m";
  public static final String ENROL_KEK = "imskms/v1/enrol-kek";
  public static final String MEDIA_CHUNKS = "imskms/v1/media-chunks";
  public static final String MEDIA_CHUNK_AAD = "imskms/v1/chunk";
  public static final String UPLOAD_KEY = "imskms/v1/e2m-upload";
  public static final String UPLOAD_TAG = "imskms/v1/upload-tag";
  public static final String UPLOAD_ACK = "imskms/v1/upload-ack";
}
