/** `{"message": "..."}`: the body of every Docker API error. */
export interface ErrorResponse {
  message: string;
}

/** `{"Id": "..."}`: the answer of exec create and commit. */
export interface IdResponse {
  Id: string;
}

/** One line of Docker's JSON progress stream (pull, push, load, import, build). */
export interface JsonMessage {
  status?: string;
  id?: string;
  progress?: string;
  progressDetail?: { current?: number; total?: number; units?: string };
  stream?: string;
  error?: string;
  errorDetail?: { code?: number; message?: string };
  aux?: Record<string, unknown>;
  time?: number;
}

/**
 * Docker's filters query parameter: `{"label": ["a=b"], "status": ["running"]}`, or the legacy
 * map form `{"status": {"running": true}}` older clients still send.
 */
export type Filters = Record<string, string[] | Record<string, boolean>>;

/** A registry login, sent base64url-encoded in the X-Registry-Auth header or to POST /auth. */
export interface AuthConfig {
  username?: string;
  password?: string;
  auth?: string;
  email?: string;
  serveraddress?: string;
  identitytoken?: string;
  registrytoken?: string;
}

export interface AuthResponse {
  Status: string;
  IdentityToken?: string;
}

/** OCI descriptor as the API shows it. */
export interface ApiDescriptor {
  mediaType: string;
  digest: string;
  size: number;
  urls?: string[];
  annotations?: Record<string, string>;
  platform?: { architecture: string; os: string; variant?: string; 'os.version'?: string; 'os.features'?: string[] };
}
