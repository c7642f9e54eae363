// The page's one way to the service: GraphQL over fetch, every request with the API key.
export class ApiError extends Error {
  constructor(message, code) {
    super(message);
    this.code = code;
  }
}

export class Api {
  constructor(key, endpoint = '/graphql') {
    this.key = key;
    this.endpoint = endpoint;
  }

  async query(document, variables = {}) {
    const response = await fetch(this.endpoint, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${this.key}` },
      body: JSON.stringify({ query: document, variables }),
    });
    let body;
    try {
      body = await response.json();
    } catch {
      throw new ApiError(`the service answered ${response.status} without JSON`, 'UNAVAILABLE');
    }
    if (body.errors?.length) {
      const first = body.errors[0];
      throw new ApiError(first.message, first.extensions?.code ?? (response.status === 401 ? 'UNAUTHENTICATED' : 'ERROR'));
    }
    return body.data;
  }
}
