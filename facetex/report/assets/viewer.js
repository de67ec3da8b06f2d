/*
 * facetex report: interactive 3D viewer of the textured face (three.js, OrbitControls).
 *
 * Works when report.html is opened straight from disk (file://) as well as over http. Chromium
 * refuses ES-module scripts and fetch() on file:// URLs, so facetex/report/html.py writes each
 * three.js module as a classic script that calls facetexModules.define(key, source) with the
 * module's text, its import specifiers rewritten to "facetex-module:<key>". Here each module
 * becomes a Blob URL (its dependencies first) and is loaded with dynamic import(). The face
 * itself arrives the same way: face_glb.js sets facetexViewerData.glb to the base64 GLB.
 *
 * Signals for tests and tools: window.__viewerReady = true once the first frame is drawn;
 * window.__viewerError holds the message if the viewer failed.
 */
(function () {
  'use strict';

  const sources = new Map();
  const urls = new Map();

  window.facetexModules = {
    define(key, source) {
      sources.set(key, source);
    },
  };

  function moduleUrl(key) {
    const known = urls.get(key);
    if (known) return known;
    const source = sources.get(key);
    if (source === undefined) throw new Error('three.js module not loaded: ' + key);
    const linked = source.replace(/(['"])facetex-module:([^'"]+)\1/g,
      (match, quote, dep) => quote + moduleUrl(dep) + quote);
    const url = URL.createObjectURL(new Blob([linked], { type: 'text/javascript' }));
    urls.set(key, url);
    return url;
  }

  function decodeBase64(text) {
    const binary = atob(text);
    const bytes = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
    return bytes.buffer;
  }

  function fail(container, err) {
    const message = String((err && err.message) || err);
    window.__viewerError = message;
    console.error('facetex viewer: ' + message);
    const note = document.createElement('p');
    note.className = 'note warn';
    note.textContent = 'The 3D viewer could not start: ' + message;
    container.appendChild(note);
  }

  async function start() {
    const container = document.getElementById('viewer');
    if (!container) return;
    try {
      const data = window.facetexViewerData;
      if (!data || !data.glb) throw new Error('face_glb.js did not load');
      const THREE = await import(moduleUrl('build/three.module.js'));
      const { GLTFLoader } = await import(moduleUrl('examples/jsm/loaders/GLTFLoader.js'));
      const { OrbitControls } = await import(moduleUrl('examples/jsm/controls/OrbitControls.js'));

      const canvas = container.querySelector('canvas');
      const renderer = new THREE.WebGLRenderer({ canvas, antialias: true, preserveDrawingBuffer: true });
      renderer.setPixelRatio(Math.min(window.devicePixelRatio || 1, 2));
      const scene = new THREE.Scene();
      scene.background = new THREE.Color(0x1c1f24);
      const camera = new THREE.PerspectiveCamera(28, 4 / 3, 0.001, 100);
      scene.add(camera);
      // Soft sky light plus a key and a fill that move with the camera (studio look).
      scene.add(new THREE.HemisphereLight(0xf4f1ec, 0x3b322c, 1.3));
      const key = new THREE.DirectionalLight(0xffffff, 1.9);
      key.position.set(-1.0, 0.8, 1.2);
      camera.add(key);
      const fill = new THREE.DirectionalLight(0xffffff, 0.6);
      fill.position.set(1.2, -0.1, 0.9);
      camera.add(fill);

      const gltf = await new Promise((resolve, reject) => {
        new GLTFLoader().parse(decodeBase64(data.glb), '', resolve, reject);
      });
      const model = gltf.scene;
      scene.add(model);

      // Frame the face from the front (+z in the GLB's y-up frame).
      const box = new THREE.Box3().setFromObject(model);
      const centre = box.getCenter(new THREE.Vector3());
      const size = box.getSize(new THREE.Vector3());
      const half = 0.5 * Math.max(size.x, size.y);
      const distance = (1.2 * half) / Math.tan(THREE.MathUtils.degToRad(camera.fov / 2)) + 0.5 * size.z;
      camera.near = distance / 100;
      camera.far = distance * 100;
      const home = new THREE.Vector3(centre.x, centre.y, centre.z + distance);
      camera.position.copy(home);

      const controls = new OrbitControls(camera, canvas);
      controls.target.copy(centre);
      controls.minDistance = distance / 5;
      controls.maxDistance = distance * 5;
      controls.update();

      const render = () => renderer.render(scene, camera);
      const resize = () => {
        const width = Math.max(1, container.clientWidth);
        const height = Math.round(width * 0.75);
        renderer.setSize(width, height, false);
        camera.aspect = width / height;
        camera.updateProjectionMatrix();
        render();
      };
      controls.addEventListener('change', render);
      window.addEventListener('resize', resize);
      const reset = document.getElementById('viewer-reset');
      if (reset) {
        reset.addEventListener('click', () => {
          camera.position.copy(home);
          controls.target.copy(centre);
          controls.update();
        });
      }
      resize();
      requestAnimationFrame(() => {
        render();
        window.__viewerReady = true;
        container.dataset.ready = 'true';
      });
    } catch (err) {
      fail(container, err);
    }
  }

  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', start);
  } else {
    start();
  }
})();
