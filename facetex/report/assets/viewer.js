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
 * Expressions: when the GLB's mesh has morph targets named as ARKit names them (facetex writes
 * the ICT model's 53 with the fitted weights), #viewer-expressions gets a slider per control in
 * EXPRESSIONS (each drives its targets' weights together, starting at their fitted mean) and a
 * neutral / fitted toggle (every weight 0, or back to the GLB's weights).
 *
 * Signals for tests and tools: window.__viewerReady = true once the first frame is drawn;
 * window.__viewerError holds the message if the viewer failed; window.__viewerFrames counts the
 * frames drawn.
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

  // Slider label → the morph targets it drives (ARKit names, as the ICT Face Model uses them).
  const EXPRESSIONS = [
    ['jaw-open', 'Jaw open', ['jawOpen']],
    ['smile', 'Smile', ['mouthSmile_L', 'mouthSmile_R']],
    ['blink', 'Blink', ['eyeBlink_L', 'eyeBlink_R']],
    ['brow-raise', 'Brow raise', ['browInnerUp_L', 'browInnerUp_R', 'browOuterUp_L', 'browOuterUp_R']],
  ];

  // The expression controls over every mesh of the model that has the named morph targets.
  function expressionControls(container, model, render) {
    const meshes = [];
    model.traverse((node) => {
      if (node.isMesh && node.morphTargetDictionary && node.morphTargetInfluences) meshes.push(node);
    });
    const controls = EXPRESSIONS.map(([id, label, names]) => ({
      id, label, targets: meshes.flatMap((mesh) => names
        .filter((name) => name in mesh.morphTargetDictionary)
        .map((name) => [mesh, mesh.morphTargetDictionary[name]])),
    })).filter((control) => control.targets.length > 0);
    if (!container || controls.length === 0) return;
    const fitted = meshes.map((mesh) => Array.from(mesh.morphTargetInfluences));
    const mean = (targets) => targets.reduce((sum, [mesh, k]) => sum + mesh.morphTargetInfluences[k], 0) / targets.length;
    const sliders = [];
    for (const control of controls) {
      const wrap = document.createElement('label');
      wrap.textContent = control.label + ' ';
      const slider = document.createElement('input');
      Object.assign(slider, { type: 'range', min: '0', max: '1', step: '0.01', id: 'expr-' + control.id });
      slider.value = String(mean(control.targets));
      slider.addEventListener('input', () => {
        for (const [mesh, k] of control.targets) mesh.morphTargetInfluences[k] = Number(slider.value);
        render();
      });
      wrap.appendChild(slider);
      container.appendChild(wrap);
      sliders.push([slider, control]);
    }
    const pose = (weights) => {
      meshes.forEach((mesh, i) => weights(i).forEach((w, k) => { mesh.morphTargetInfluences[k] = w; }));
      for (const [slider, control] of sliders) slider.value = String(mean(control.targets));
      render();
    };
    for (const [id, label, weights] of [
      ['expr-neutral', 'Neutral', (i) => fitted[i].map(() => 0)],
      ['expr-fitted', 'Fitted', (i) => fitted[i]],
    ]) {
      const button = document.createElement('button');
      Object.assign(button, { type: 'button', id, textContent: label });
      button.addEventListener('click', () => pose(weights));
      container.appendChild(button);
    }
    container.hidden = false;
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

      window.__viewerFrames = 0;
      const render = () => {
        renderer.render(scene, camera);
        window.__viewerFrames += 1;
      };
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
      expressionControls(document.getElementById('viewer-expressions'), model, render);
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
