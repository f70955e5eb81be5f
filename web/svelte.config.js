import adapter from '@sveltejs/adapter-static';
import { vitePreprocess } from '@sveltejs/vite-plugin-svelte';

/** Static files served by the gateway at `/`; client routes fall back to index.html. */
export default {
	preprocess: vitePreprocess(),
	kit: {
		adapter: adapter({ pages: 'build', assets: 'build', fallback: 'index.html', strict: false }),
		// no inline scripts from a CDN; everything comes from the gateway's own origin
		output: { bundleStrategy: 'split' }
	}
};
