// A single-page app: no server rendering, the gateway serves index.html for every client route.
export const ssr = false;
export const prerender = false;
