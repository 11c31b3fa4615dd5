export default function NotFound() {
  return (
    <section className="card not-found" data-testid="not-found">
      <h1>Page not found</h1>
      <p>There is no page at this address, or it has moved.</p>
      <p>
        <a href="/dashboard">Go to the dashboard</a> · <a href="/files">Files</a>
      </p>
    </section>
  );
}
