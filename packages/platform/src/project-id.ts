/** A Google Cloud project id: 6 to 30 lower-case letters, digits and hyphens, from a letter. */
export const projectIdPattern = /^[a-z][a-z0-9-]{4,28}[a-z0-9]$/;
